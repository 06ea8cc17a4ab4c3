"""What a run cost, measured by the process that finishes it, for every record and leaderboard.

PEFT's `method_comparison` records peak memory, time and file size beside quality: a method that
wins by a point but needs twice the memory or an SVD of every weight is a different trade-off,
and the table should say so (STYLE.md). Every protocol makes one `CostMeter` at the start of its
`run`, times the method's own set-up inside it (`attach`, `begin_task`; an editor's `prepare`),
reports every trained unit to it (`trained`), and writes `CostMeter.record(...)` into its metrics:

- `seconds_per_step`: training seconds / optimizer steps, over the units this process trained.
- `tokens_per_second`: training tokens (attention-mask ones) / training seconds; n/a for editors,
  whose procedures count no tokens.
- `setup_seconds`: seconds inside `attach` and `begin_task` (SVD for PiSSA and HiP-LoRA,
  covariances for SC-LoRA, Fisher for LaLoRA) or an editor's `prepare`.
- `peak_memory_gb` and `peak_memory_kind`: on CUDA ("gpu") `torch.cuda.max_memory_allocated`
  since the run's start; on the CPU ("host") the process's peak resident set size
  (`getrusage`), which cannot be reset: it covers the process up to the run's end, model loading
  and earlier runs of the same process included.
- `adapter_mb`: size on disk of the final update's PEFT export (`hipbench.export`; editors: the
  exported delta and state), 10^6 bytes; merging: mean over the single-task adapters.
- `frozen_params`: parameters a method keeps frozen beside the pretrained model at the end
  (O-LoRA's earlier adapters; `Method.frozen_parameters`), 0 for the rest and for editors.
- `cost_units`: how many units (tasks, edits, adapters) this process trained.
- `evaluation_seconds`, `diagnostics_seconds` (continual runs): seconds this process spent scoring
  the model after each task (and the base model before the first), and on the final spectral
  diagnostics; of the evaluation, `evaluation_choice_seconds` (option log-likelihoods),
  `evaluation_exact_seconds` (greedy decoding) and `evaluation_probes_seconds` (facts and text
  NLL). With training and set-up they say where a run's time goes: with `--cuda-graphs` training
  stops being most of it (bench/RESULTS.md), and these say what is left.

**Resumed runs.** A resumed process measures only what it did: the costs cover the units it
trained (`cost_units` says how many) and its own set-up and peak; the units of the interrupted
process are not added, because their seconds came from another process, perhaps on another
machine. A process that trained nothing (a merge run whose adapters all came from the cache, a
resume after the last task) records n/a (NaN) for the training costs, never a guessed value.
Records made before this module have none of these fields: their tables show no cost column.
"""
from __future__ import annotations

import math
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import torch

from hipbench.export import export_peft_adapter

COST_COLUMNS = [
    ("seconds_per_step", "s/step"),
    ("tokens_per_second", "Tokens/s"),
    ("setup_seconds", "Set-up s"),
    ("peak_memory_gb", "Peak memory GB"),
    ("adapter_mb", "Adapter MB"),
    ("frozen_params", "Frozen params"),
]
COST_NOTE = ("Cost, measured by the process that finished the run (a resumed run: the units it trained): "
             "s/step = training seconds per optimizer step; Tokens/s = training tokens per second; Set-up s = "
             "seconds in the method's own set-up (SVD, covariances, Fisher; an editor's statistics); Peak memory GB "
             "= peak GPU memory allocated, or on the CPU the process's peak resident set size (the record's "
             "peak_memory_kind); Adapter MB = size of the final update's PEFT export; Frozen params = adapter "
             "parameters kept frozen beside the model (O-LoRA). n/a = not measured: Tokens/s of a knowledge editor "
             "(its procedure counts no tokens), the costs of a process that trained nothing, and records made "
             "before costs were.")
# The fields that depend on the process that measured them (time, memory, which units it trained):
# a resumed run's differ from an uninterrupted one's; the adapter size and frozen count do not.
PROCESS_FIELDS = ("seconds_per_step", "tokens_per_second", "setup_seconds", "peak_memory_gb", "cost_units",
                  "evaluation_seconds", "evaluation_choice_seconds", "evaluation_exact_seconds",
                  "evaluation_probes_seconds", "diagnostics_seconds")
# Optional columns (hipbench.leaderboard): shown only in tables where a record has them, with the
# note once; older tables are rebuilt byte for byte.
COST_OPTIONAL = {key: (COST_NOTE if index == 0 else "") for index, (key, _) in enumerate(COST_COLUMNS)}

BYTES_PER_MB = 10 ** 6
BYTES_PER_GB = 10 ** 9


def peak_memory(device: torch.device) -> tuple[float, str]:
    """(GB, kind): CUDA's peak allocation since the last reset, or the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / BYTES_PER_GB, "gpu"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / BYTES_PER_GB, "host"  # Linux: KiB, macOS: bytes


def directory_mb(directory: Path) -> float:
    """Size of every file under `directory`, in MB; 0 when nothing was written there."""
    if not directory.exists():
        return 0.0
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file()) / BYTES_PER_MB


def export_mb(export: Callable[[Path], None]) -> float:
    """Size of what `export(directory)` writes into a fresh temporary directory (deleted after)."""
    with tempfile.TemporaryDirectory(prefix="hipbench-export-") as tmp:
        target = Path(tmp) / "adapter"
        export(target)
        return directory_mb(target)


def peft_export_mb(factors: dict[str, tuple[torch.Tensor, torch.Tensor]], base_model: str) -> float:
    """Size of the PEFT LoRA export of `factors` (ΔW = B A per module), written and measured."""
    return export_mb(lambda directory: export_peft_adapter(factors, directory, base_model))


class CostMeter:
    """Set-up time, training steps, tokens and seconds of one run's process (module docstring)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.units = 0
        self.steps = 0
        self.seconds = 0.0
        self.tokens: int | None = 0
        self.phases: dict[str, float] = {"setup": 0.0}  # `phase(name)`: seconds per named part of the run
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a part of the run, recorded as `{name}_seconds` (summed over its occurrences); on
        CUDA the clock stops after a sync, so the kernels queued inside are counted."""
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - start

    def setup(self) -> AbstractContextManager[None]:
        """Time a method's set-up hook (`setup_seconds`)."""
        return self.phase("setup")

    def trained(self, steps: int, seconds: float, tokens: int | None) -> None:
        """One unit trained by this process; `tokens` None where the procedure counts none."""
        self.units += 1
        self.steps += steps
        self.seconds += seconds
        self.tokens = None if tokens is None or self.tokens is None else self.tokens + tokens

    def record(self, adapter_mb: float, frozen_params: int) -> dict:
        """The metrics fields (module docstring); training costs NaN where nothing was trained."""
        memory, kind = peak_memory(self.device)
        trained = self.units > 0
        return {"seconds_per_step": self.seconds / self.steps if self.steps else math.nan,
                "tokens_per_second": (self.tokens / self.seconds if trained and self.tokens is not None
                                      and self.seconds > 0 else math.nan),
                "setup_seconds": self.phases["setup"] if trained else math.nan,
                "peak_memory_gb": memory, "peak_memory_kind": kind, "adapter_mb": adapter_mb,
                "frozen_params": frozen_params, "cost_units": self.units,
                **{f"{name}_seconds": seconds for name, seconds in self.phases.items() if name != "setup"}}
