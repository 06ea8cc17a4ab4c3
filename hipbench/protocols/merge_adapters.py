"""Single-task adapters of the merge protocol (`hipbench.protocols.merge`, step 1): each task's
adapter trained alone from the base model, and the cache that keeps it.

**Adapter cache.** A trained adapter is stored as its exact low-rank factors (ΔW = B A, fp32
safetensors, per module; every method's ΔW is low rank, see `Method.delta_factors`) under
`<out>/<suite>/<model>/.adapters/<key>/`, where the key hashes everything that determines it:
model, method, resolved method options, seed, the task's name, scoring and training examples,
the preservation set, the train config, budget, rank (and each module's, when they differ), targets, `--limit` and device. The merge
rule and instance count are not in it, so a second run with the other rule retrains nothing.
Each run records which adapters it trained and which it reused; an adapter stored by an earlier,
interrupted attempt of the same record (`trained_by` in its metadata) counts as trained by it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from hipbench.config import RunConfig, git_commit
from hipbench.costs import CostMeter
from hipbench.method import Context, Method, identity_options, plugin_cpu_threads
from hipbench.method_statistics import with_statistics
from hipbench.models import LoadedModel, frozen_copy
from hipbench.protocols.continual import DIAGNOSTIC_K
from hipbench.records import RunRecord, read_json, write_json_atomic
from hipbench.spectral import SVDCache, spectral_diagnostics
from hipbench.suite import GeneralSet, Suite, TaskData
from hipbench.train import NonFiniteLoss, train_task

ADAPTER_DIR = ".adapters"
CACHE_VERSION = 1  # bump when training changes in a way the key cannot see

Factors = dict[str, tuple[torch.Tensor, torch.Tensor]]


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def task_seed(seed: int, task: str) -> int:
    """The seed of one task's adapter: stable across runs and machines, distinct per task."""
    return int(hashlib.sha256(f"{seed}/{task}".encode()).hexdigest()[:8], 16)


def adapter_identity(loaded: LoadedModel, method: Method, task: TaskData, preservation: GeneralSet,
                     cfg: RunConfig, plan: dict) -> dict:
    """Everything that determines a single-task adapter's ΔW (and nothing that does not)."""
    identity = {
        "cache_version": CACHE_VERSION,
        "model": loaded.name,
        "model_source": loaded.source,
        "method": method.name,
        "method_options": identity_options(method.options),
        "seed": cfg.seed,
        "task": {"name": task.name, "scoring": task.scoring,
                 "train_sha256": _digest([[ex.prompt, ex.answer, list(ex.options)] for ex in task.train]),
                 "train_examples": len(task.train)},
        "preservation_sha256": _digest([list(preservation.texts),
                                        [[f.prompt, f.answer, list(f.options)] for f in preservation.facts]]),
        "train": asdict(cfg.train),
        "budget": plan["budget"],
        "rank": plan["rank"],
        "target_modules": list(cfg.target_modules),
        "limit": cfg.limit,
        "device": cfg.device,
    }
    if len(set(plan["ranks"].values())) > 1:  # unequal ranks ("fill" rule): uniform ones keep their key
        identity["ranks"] = plan["ranks"]
    if cfg.svd != "exact":  # the SVD solver shapes PiSSA's and HiP-LoRA's start; adapters cached before it keep their key
        identity["svd"] = cfg.svd
    return identity


def adapter_key(identity: dict) -> str:
    return _digest(identity)[:16]


def adapter_root(record: RunRecord) -> Path:
    """`<out>/<suite>/<model>/.adapters`: the record lives at `<out>/<suite>/<model>/<method>/seed-…`."""
    return record.dir.parent.parent / ADAPTER_DIR


def load_adapter(directory: Path, identity: dict) -> tuple[Factors, dict] | None:
    """The stored factors and metadata, or None when absent, unreadable or of another identity."""
    meta_path, tensor_path = directory / "adapter.json", directory / "adapter.safetensors"
    if not (meta_path.is_file() and tensor_path.is_file()):
        return None
    try:
        meta = read_json(meta_path)
        tensors = load_file(str(tensor_path))
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if json.loads(json.dumps(meta.get("identity"), default=str)) != json.loads(json.dumps(identity, default=str)):
        return None
    factors = {name: (tensors[f"{name}::B"], tensors[f"{name}::A"]) for name in meta["modules"]}
    return factors, meta


def save_adapter(directory: Path, factors: Factors, meta: dict) -> None:
    """Write into a temporary sibling, then rename: a concurrent run either sees the whole
    adapter or none, and when two runs race the first one's copy stays."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        tensors = {}
        for name, (b, a) in factors.items():
            tensors[f"{name}::B"] = b.detach().float().cpu().contiguous()
            tensors[f"{name}::A"] = a.detach().float().cpu().contiguous()
        save_file(tensors, str(tmp / "adapter.safetensors"))
        write_json_atomic(tmp / "adapter.json", {**meta, "modules": sorted(factors)})
        try:
            os.replace(tmp, directory)
        except OSError:  # another run stored the same adapter first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- training ------------------------------------------------------------------------------------
def train_adapter(loaded: LoadedModel, method: Method, task: TaskData, suite: Suite, cfg: RunConfig, plan: dict,
                  svd: SVDCache, device: torch.device, meter: CostMeter) -> tuple[Factors, dict]:
    """Train one single-task adapter from the base model with a fresh method instance; returns
    its ΔW factors (fp32, CPU) and what is recorded about its training."""
    seed = task_seed(cfg.seed, task.name)
    torch.manual_seed(seed)
    fresh = type(method)(method.options)
    model = frozen_copy(loaded.model)
    ctx = Context(tokenizer=loaded.tokenizer, device=device, generator=torch.Generator().manual_seed(seed),
                  preservation=suite.preservation, batch_size=cfg.train.batch_size,
                  max_length=cfg.train.max_length, svd=svd)
    with meter.setup(), plugin_cpu_threads(device):
        fresh.attach(model, plan["targets"], plan["ranks"], ctx)
    model.to(device)
    with meter.setup():
        fresh.begin_task(model, task, ctx)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = train_task(model, fresh, task.train, loaded.tokenizer, cfg.train, device,
                       torch.Generator().manual_seed(seed), desc=f"train {task.name}", graphs=cfg.cuda_graphs)
    own = fresh.task_statistics(model)  # before end_task, as in the continual protocol
    fresh.end_task(model, task, ctx)
    meter.trained(stats.steps, stats.seconds, stats.tokens)
    factors = {name: (b.detach().float().cpu().contiguous(), a.detach().float().cpu().contiguous())
               for name, (b, a) in fresh.delta_factors(model).items()}
    del model
    deltas = {name: b @ a for name, (b, a) in factors.items()}
    spectral = spectral_diagnostics(loaded.model, deltas, DIAGNOSTIC_K, svd)
    info = with_statistics({"task_seed": seed, "steps": stats.steps, "final_task_loss": stats.losses[-1],
                            "mean_task_loss": sum(stats.losses) / len(stats.losses),
                            "mean_extra_loss": sum(stats.extra_losses) / len(stats.extra_losses),
                            "tokens": stats.tokens, "seconds": stats.seconds, "trainable": trainable,
                            "spectral": spectral, **stats.execution()}, own)
    return factors, info


def record_id(record: RunRecord) -> str:
    """`<method>/seed-…`: the record's name next to the adapter cache, stable when the out
    directory moves; stored adapters name the record that trained them by it."""
    return str(record.dir.relative_to(adapter_root(record).parent))


def single_task_adapters(loaded: LoadedModel, method: Method, suite: Suite, cfg: RunConfig, plan: dict,
                         record: RunRecord, device: torch.device, meter: CostMeter,
                         append_rows: bool = True) -> tuple[list[Factors], list[dict]]:
    """One adapter per task, from the cache when its key matches, else trained and stored. An
    adapter counts as trained when this record trained it, in this attempt or an interrupted one.
    `append_rows` off: a resumed run, whose record holds the adapter rows already."""
    svd = SVDCache(device=device, solver=cfg.svd)
    root = adapter_root(record)
    adapters, log = [], []
    for task in tqdm(suite.tasks, desc=f"{method.name} seed {cfg.seed} adapters", dynamic_ncols=True):
        identity = adapter_identity(loaded, method, task, suite.preservation, cfg, plan)
        key = adapter_key(identity)
        cached = load_adapter(root / key, identity)
        if cached is not None:
            factors, meta = cached
            status = "trained" if meta.get("trained_by") == record_id(record) else "reused"
            if "rotation_drift_left" not in meta["training"]["spectral"]["mean"]:  # stored before it was measured
                meta["training"]["spectral"] = spectral_diagnostics(
                    loaded.model, {name: b @ a for name, (b, a) in factors.items()}, DIAGNOSTIC_K, svd)
                write_json_atomic(root / key / "adapter.json", meta)  # once per stored adapter, not per run
        else:
            try:
                factors, info = train_adapter(loaded, method, task, suite, cfg, plan, svd, device, meter)
            except NonFiniteLoss as error:
                record.fail(str(error), task=task.name, step=error.step)
                raise
            meta = {"identity": identity, "key": key, "training": info, "git_commit": git_commit(),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "trained_by": record_id(record)}
            save_adapter(root / key, factors, meta)
            status = "trained"
        adapters.append(factors)
        log.append({"task": task.name, "key": key, "status": status, "cache": str(root / key),
                    "trained_at_commit": meta["git_commit"], **meta["training"]})
        if append_rows:
            record.append({"kind": "adapter", "task": task.name, "key": key, "status": status})
    return adapters, log
