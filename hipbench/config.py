"""Run configuration: plain data, validated once, hashed for run identity.

Everything that can change a number is in `RunConfig`, so the stable hash of its JSON form
identifies a run: a sweep skips a run whose complete record has the same hash.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hipbench import __version__
from hipbench.budget import DEFAULT_TOLERANCE, RULES
from hipbench.method import ADDED_LATER, DEFAULT_TARGETS, defaulted_later
from hipbench.spectral import SOLVERS
from hipbench.suite import DATA_SPLITS
from hipbench.train import TrainConfig

DEFAULT_SEEDS = (42, 100, 2024)
NOT_IDENTITY = "not_identity"  # dataclasses.field metadata key: recorded but left out of RunConfig.hash
MAX_SEED = 2**32 - 1  # torch takes up to 2**64 - 1, numpy-style generators 2**32 - 1


@dataclass(frozen=True)
class RunConfig:
    method: str
    suite: str
    model: str
    seed: int
    budget: int | None = None  # None: LoRA rank 8 on every target module
    method_options: dict = field(default_factory=dict)
    data_dir: str | None = None
    limit: int | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    eval_batch_size: int = 32
    device: str = "cpu"
    # fields added after runs were published: at their default they leave the hash as it was
    # e.g. edit_mode, num_edits, merge_rule
    protocol_options: dict = field(default_factory=dict, metadata={ADDED_LATER: True})
    # --trust-remote-code: run the model repository's own Python code
    trust_remote_code: bool = field(default=False, metadata={ADDED_LATER: True})
    # --svd: top-k SVD solver of hipbench.spectral.SVDCache ("exact" or "fast")
    svd: str = field(default="exact", metadata={ADDED_LATER: True})
    # --budget-rule (hipbench.budget): "uniform" is what every published record ran, so it is this
    # field's default and leaves their hashes as they were; new runs get "fill" from RunGroup
    budget_rule: str = field(default="uniform", metadata={ADDED_LATER: True})
    # --budget-tolerance: changes no number, only whether a "fill" run may start; in the hash when not
    # the default, so a run allowed by a looser tolerance never stands in for one that met 1 %
    budget_tolerance: float = field(default=DEFAULT_TOLERANCE, metadata={ADDED_LATER: True})
    # how the suite's data is split (hipbench.suite.DATA_SPLITS); records made before validation
    # splits existed trained on all training data: "all-train", the default here, means that
    data_split: str = field(default="all-train", metadata={ADDED_LATER: True})
    # --general-eval (hipbench.general_eval.config_block): lm-eval tasks scored on the base and the
    # adapted model; empty, the default, leaves the hash of every run made without it as it was
    general_eval: dict = field(default_factory=dict, metadata={ADDED_LATER: True})
    # where tuned settings came from (`hipbench run --tuned`): recorded, not part of the run's
    # identity, since the same settings typed by hand are the same run
    tuning: dict = field(default_factory=dict, metadata={ADDED_LATER: True, NOT_IDENTITY: True})
    # --cuda-graphs (hipbench.graphed): training steps replayed as CUDA graphs of the eager kernels,
    # the same numbers, so recorded but not part of the run's identity
    cuda_graphs: bool = field(default=False, metadata={ADDED_LATER: True, NOT_IDENTITY: True})

    def validate(self) -> None:
        if self.train.steps < 1:
            raise ValueError(f"--steps must be at least 1 (got {self.train.steps})")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1 (got {self.limit})")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"--budget must be positive (got {self.budget})")
        if self.train.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1 (got {self.train.batch_size})")
        if not 0 < self.train.lr < math.inf:
            raise ValueError(f"--lr must be a positive finite number (got {self.train.lr})")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seeds: {self.seed} is outside 0..{MAX_SEED}")
        if self.budget_rule not in RULES:
            raise ValueError(f"--budget-rule {self.budget_rule}: expected one of {', '.join(RULES)}")
        if not 0 <= self.budget_tolerance < 1:
            raise ValueError(f"--budget-tolerance must be in [0, 1) (got {self.budget_tolerance:g})")
        if self.svd not in SOLVERS:
            raise ValueError(f"--svd {self.svd}: expected one of {', '.join(SOLVERS)}")
        if self.cuda_graphs and self.device != "cuda":
            raise ValueError(f"--cuda-graphs needs --device cuda (got {self.device})")
        if self.data_split not in DATA_SPLITS:
            raise ValueError(f"--data-split {self.data_split}: expected one of {', '.join(DATA_SPLITS)}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def hash(self, resolved_options: dict | None = None, named_options: dict | None = None) -> str:
        """Stable identity of the run. `resolved_options` are the method's options with defaults
        filled in, so that a changed default is a different run, not a skipped one; `named_options`,
        where given, stand for `method_options` (`hipbench.method.identity_named`: an option named at
        its former default is the run a record made then without naming it)."""
        skipped = defaulted_later(self) | {f.name for f in dataclasses.fields(self) if f.metadata.get(NOT_IDENTITY)}
        identity = {key: value for key, value in self.to_dict().items() if key not in skipped}
        if named_options is not None:
            identity["method_options"] = json.loads(json.dumps(named_options))
        identity["resolved_options"] = resolved_options or {}
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if choice not in ("cpu", "cuda"):
        raise ValueError(f"--device {choice}: expected auto, cpu or cuda")
    return choice


def git_commit() -> str:
    """Commit of the hipbench source tree, with '-dirty' when it has uncommitted changes.

    A copy of the tree without `.git` (a GPU machine, say) reads `HIPBENCH_GIT_COMMIT`, recorded
    as declared rather than verified; a declared commit that differs from the one git reads is
    recorded beside it."""
    root = Path(__file__).resolve().parent.parent
    declared = os.environ.get("HIPBENCH_GIT_COMMIT")
    fallback = f"{declared} (declared)" if declared else "unknown"
    if not (root / ".git").exists():
        return fallback
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return fallback
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        read = head.stdout.strip() + ("-dirty" if dirty else "")
        # A device copy of the tree can sit on an older commit with newer files: say both.
        return read if not declared or read.startswith(declared) else f"{read} (declared {declared})"
    except (OSError, subprocess.SubprocessError):
        return fallback


def environment(device: str) -> dict:
    """Versions and hardware, recorded next to every run."""
    import peft
    import transformers

    hardware = torch.cuda.get_device_name(0) if device == "cuda" else (platform.processor() or platform.machine())
    return {
        "hipbench": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "device": device,
        "hardware": hardware,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),  # CPU work rounds by it (hipbench.method.one_cpu_thread)
        "dtype": "bf16 autocast, fp32 weights" if device == "cuda" else "fp32",
    }
