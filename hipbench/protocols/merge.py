"""Multi-adapter merging (PROTOCOLS.md section 3; HiP-LoRA paper, appendix C.3): MergeFail.

For one (method, seed):

1. **Single-task adapters.** Every task of the source suite (`--tasks-from`, default the built-in
   `continual` suite) gets its own adapter, trained from the base model: a fresh copy of the
   model, a fresh method instance, `train_task` with the run's `TrainConfig`, exactly the
   per-task training of the continual protocol. Each adapter is trained as if it were the only
   one: its initialisation, dropout and batch order come from generators seeded by
   (seed, task name), identical for every method and independent of which other tasks the suite
   holds. Its ΔW is stored (below) and its accuracy `a_single` is measured on base + ΔW.
2. **Instances.** For each merge size t = 2..T, `--merge-instances` (default 20) distinct task
   subsets are drawn from a generator seeded by (seed, t) only, so every method meets the same
   instances; when fewer than that many subsets exist, all of them are used once
   (`hipbench.mergefail.draw_instances`), and the number used is recorded.
3. **Merge and evaluate.** The instance's ΔW are merged per module by `--merge-rule` (`sum`:
   task arithmetic; `ties`: TIES-merging, k = 20%; λ = 1 for both and for every method, see
   `hipbench.merging`), added in place to one copy of the base model (restored from a saved
   copy of the target weights between instances: no adapter modules, no per-instance copies),
   and every task of the instance is scored on it.
4. **MergeFail(t)** is the fraction of instances in which some task falls below 0.9 × its
   single-task accuracy, with a 95% bootstrap CI over instances; per-task retention
   a_merged / a_single is recorded for every (instance, task).

**Adapter cache.** A trained adapter is stored as its exact low-rank factors (ΔW = B A, fp32
safetensors, per module; every method's ΔW is low rank, see `Method.delta_factors`) under
`<out>/<suite>/<model>/.adapters/<key>/`, where the key hashes everything that determines it:
model, method, resolved method options, seed, the task's name, scoring and training examples,
the preservation set, the train config, budget, rank (and each module's, when they differ), targets, `--limit` and device. The merge
rule and instance count are not in it, so a second run with the other rule retrains nothing.
Each run records which adapters it trained and which it reused; an adapter stored by an earlier,
interrupted attempt of the same record (`trained_by` in its metadata) counts as trained by it.

**Resume** (`read_checkpoint`). Evaluation is a pure function of the adapters, the rule and the
instances (no randomness: instances come from their own seeded generator), so a checkpoint needs no
tensors: after the base accuracies, after each single-task accuracy and after each merge instance,
it records which unit it follows, and the record keeps the rows measured up to it. An interrupted
run gets its adapters back from the cache, measures only the units it lacks, in the same order,
and ends with the same rows and, on the CPU, the same metrics as an uninterrupted run except for
wall-clock fields (`seconds`, `adapters[i].seconds`, `finished`) and each adapter's `cache` path.
Interrupted while adapters are trained (before the first checkpoint), it starts over, and the
adapters stored so far are reused from the cache.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from hipbench import scoring
from hipbench.config import RunConfig, git_commit
from hipbench.costs import CostMeter, peft_export_mb
from hipbench.export import export_peft_adapter
from hipbench.mergefail import TAU, bootstrap_ci, draw_instances, paired_difference, summarize_size
from hipbench.merging import DEFAULT_RULE, check_rule, merge_deltas, rule_description
from hipbench.method import Context, Method, identity_options
from hipbench.models import LoadedModel, frozen_copy
from hipbench.paired import BASELINE
from hipbench.protocols.continual import DIAGNOSTIC_K, plan_budget
from hipbench.records import RunRecord, read_json, write_json_atomic
from hipbench.spectral import SVDCache, spectral_diagnostics
from hipbench.suite import GeneralSet, Suite, TaskData
from hipbench.train import NonFiniteLoss, train_task

DEFAULT_INSTANCES = 20
DEFAULT_TASKS_FROM = "continual"
ADAPTER_DIR = ".adapters"
CACHE_VERSION = 1  # bump when training changes in a way the key cannot see
CHECKPOINT_VERSION = 1
TABLE_SIZES = (2, 3, 4, 5)  # merge sizes with fixed leaderboard columns (continual: T = 4, cl-benchmark: 5)

Factors = dict[str, tuple[torch.Tensor, torch.Tensor]]

OPTIONS: frozenset[str] = frozenset({"tasks_from", "merge_rule", "merge_instances"})
TUNING_OBJECTIVE = ("mean single-task validation accuracy", ("single_accuracy_mean",))
LEADERBOARD_COLUMNS = [
    ("single_accuracy_mean", "Single-task acc"),
    *[column for t in TABLE_SIZES for column in ((f"mergefail_t{t}", f"MergeFail t={t}"),
                                                 (f"mergefail_t{t}_lo", f"t={t} CI lo"),
                                                 (f"mergefail_t{t}_hi", f"t={t} CI hi"))],
    ("mean_retention", "Retention"),
    ("principal_energy", "Principal energy"),
    ("drift_left", "Drift U"),
    ("drift_right", "Drift V"),
]
LEADERBOARD_NOTE = (
    "Single-task acc = mean test accuracy of the single-task adapters (base + ΔW). MergeFail t = share of "
    "merge instances (distinct subsets of t tasks, the same for every method of a seed) in which some task "
    "falls below 0.9 × its single-task accuracy (HiP-LoRA appendix C.3); CI lo/hi = 95% bootstrap interval "
    "over one seed's instances, averaged over seeds (pooled intervals and paired differences to lora are "
    "below the table). n/a = the suite has fewer than t tasks. Retention = mean a_merged / a_single over all "
    "(instance, task) pairs. Principal energy and Drift U/V are the spectral diagnostics of the single-task "
    "adapters (k = 32), averaged over tasks and adapted layers. Merge rule λ = 1 for every method."
)

# Outcome metrics compared with the baseline under the table (not the per-seed CI bounds).
PAIRED_COLUMNS = ("single_accuracy_mean", *(f"mergefail_t{t}" for t in TABLE_SIZES), "mean_retention")


# --- options -------------------------------------------------------------------------------------
def merge_settings(cfg: RunConfig, n_tasks: int) -> tuple[str, int]:
    """(rule, instances per size) from the run's protocol options, with one-line errors."""
    options = cfg.protocol_options
    rule = check_rule(str(options.get("merge_rule", DEFAULT_RULE)))
    instances = options.get("merge_instances", DEFAULT_INSTANCES)
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise ValueError(f"--merge-instances must be an integer of at least 1 (got {instances!r})")
    if n_tasks < 2:
        raise ValueError(f"--tasks-from {options.get('tasks_from', DEFAULT_TASKS_FROM)}: merging needs a suite "
                         f"with at least 2 tasks, this one has {n_tasks}")
    return rule, instances


def prepare_suite(suite: Suite, cfg: RunConfig) -> Suite:
    """Called by the runner before the model loads: bad merge options fail before anything is
    written. The suite itself is used as it is."""
    merge_settings(cfg, len(suite.tasks))
    return suite


# --- adapter identity and cache ------------------------------------------------------------------
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
    with meter.setup():
        fresh.attach(model, plan["targets"], plan["ranks"], ctx)
    model.to(device)
    with meter.setup():
        fresh.begin_task(model, task, ctx)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = train_task(model, fresh, task.train, loaded.tokenizer, cfg.train, device,
                       torch.Generator().manual_seed(seed), desc=f"train {task.name}")
    fresh.end_task(model, task, ctx)
    meter.trained(stats.steps, stats.seconds, stats.tokens)
    factors = {name: (b.detach().float().cpu().contiguous(), a.detach().float().cpu().contiguous())
               for name, (b, a) in fresh.delta_factors(model).items()}
    del model
    deltas = {name: b @ a for name, (b, a) in factors.items()}
    spectral = spectral_diagnostics(loaded.model, deltas, DIAGNOSTIC_K, svd)
    info = {"task_seed": seed, "steps": stats.steps, "final_task_loss": stats.losses[-1],
            "mean_task_loss": sum(stats.losses) / len(stats.losses),
            "mean_extra_loss": sum(stats.extra_losses) / len(stats.extra_losses), "tokens": stats.tokens,
            "seconds": stats.seconds, "trainable": trainable, "spectral": spectral}
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


# --- merged evaluation ---------------------------------------------------------------------------
class InPlaceMerge:
    """One copy of the base model whose target weights are set to W0 + merged ΔW in place, and
    restored from a saved copy of W0 before the next merge: no adapter modules and no model copy
    per instance (the run evaluates hundreds of instances on one model)."""

    def __init__(self, pretrained: nn.Module, targets: Sequence[str], device: torch.device) -> None:
        self.model = frozen_copy(pretrained).to(device)
        self.weights = {name: self.model.get_submodule(name).weight for name in targets}
        self.original = {name: weight.detach().clone() for name, weight in self.weights.items()}
        self.device = device

    @torch.no_grad()
    def set(self, adapters: Sequence[Factors], rule: str | None) -> None:
        """W = W0 + merge(ΔW of `adapters`); with `rule` None exactly one adapter's own ΔW, and
        with no adapters the base model."""
        if rule is None and len(adapters) > 1:
            raise ValueError("several adapters need a merge rule")
        for name, weight in self.weights.items():
            weight.copy_(self.original[name])
            deltas = []
            for factors in adapters:
                if name in factors:
                    b, a = factors[name]
                    deltas.append(b.to(self.device, torch.float32) @ a.to(self.device, torch.float32))
                else:  # a module this adapter leaves alone
                    deltas.append(torch.zeros(weight.shape, dtype=torch.float32, device=self.device))
            if not deltas:
                continue
            merged = deltas[0] if rule is None else merge_deltas(deltas, rule)
            weight.add_(merged.to(weight.dtype))


def accuracy(model: nn.Module, tokenizer, task: TaskData, cfg: RunConfig, device: torch.device) -> tuple[float, int]:
    correct = scoring.task_correct(model, tokenizer, task, device, cfg.eval_batch_size)
    return sum(correct) / len(correct), len(correct)


# --- resuming ------------------------------------------------------------------------------------
def unit_of(row: dict) -> str | None:
    """The evaluation unit a measurement row belongs to (None for adapter rows): the base model's
    accuracies, one task's single-task accuracy, or one merge instance. A checkpoint follows each."""
    kind = row.get("kind")
    if kind == "base":
        return "base"
    if kind == "single":
        return f"single {row['task']}"
    if kind == "merged":
        return f"merged t={row['t']} instance {row['instance']}"
    return None


def checkpoint(record: RunRecord, names: list[str], unit: str) -> None:
    """Mark `unit` measured: the record keeps every row up to here when the run resumes."""
    record.save_checkpoint({"version": CHECKPOINT_VERSION, "protocol": "merge", "tasks": names, "unit": unit})


def read_checkpoint(record: RunRecord, suite: Suite) -> dict | None:
    """The record's checkpoint if this suite's run can resume from it (this protocol's format, the
    same tasks), with `at` and `rows` for `RunRecord.resume`. The merge rule and instance count are
    in the config hash that names the record, so they cannot differ."""
    state = record.load_checkpoint()
    if state is None or state.get("version") != CHECKPOINT_VERSION or state.get("protocol") != "merge":
        return None
    if state.get("tasks") != [t.name for t in suite.tasks]:
        return None
    return {**state, "at": {"after": state["unit"]}}


# --- the protocol --------------------------------------------------------------------------------
def run(loaded: LoadedModel, method: Method, suite: Suite, cfg: RunConfig, record: RunRecord,
        save_adapters: bool = False, resume: dict | None = None) -> dict:
    """Run one (method, seed): adapters, single-task accuracies, merged accuracies, MergeFail.
    With `resume` (a checkpoint from `read_checkpoint`), units the record holds are not measured again."""
    rule, n_instances = merge_settings(cfg, len(suite.tasks))
    device = torch.device(cfg.device)
    plan = plan_budget(loaded.model, method, cfg)
    names = [task.name for task in suite.tasks]
    tokenizer = loaded.tokenizer
    measured = set() if resume is None else {unit_of(row) for row in record.measurements()}
    start, meter = time.perf_counter(), CostMeter(device)
    adapters, adapter_log = single_task_adapters(loaded, method, suite, cfg, plan, record, device, meter,
                                                 append_rows=resume is None)
    adapter_mb = sum(peft_export_mb(factors, loaded.name) for factors in adapters) / len(adapters)
    trained_seconds = time.perf_counter() - start
    if save_adapters:
        for index, (task, factors) in enumerate(zip(suite.tasks, adapters), start=1):
            export_peft_adapter(factors, record.dir / "adapters" / f"{index:02d}-{task.name}", loaded.name)

    start = time.perf_counter()
    adapters = [{name: (b.to(device), a.to(device)) for name, (b, a) in factors.items()} for factors in adapters]
    merger = InPlaceMerge(loaded.model, plan["targets"], device)
    if "base" not in measured:
        merger.set([], None)
        for task in suite.tasks:
            value, n = accuracy(merger.model, tokenizer, task, cfg, device)
            record.append({"kind": "base", "task": task.name, "metric": "accuracy", "value": value, "n": n})
        checkpoint(record, names, "base")
    for task, factors in zip(suite.tasks, adapters):
        row = {"kind": "single", "task": task.name, "metric": "accuracy"}
        if unit_of(row) in measured:
            continue
        merger.set([factors], None)
        value, n = accuracy(merger.model, tokenizer, task, cfg, device)
        record.append({**row, "value": value, "n": n})
        checkpoint(record, names, unit_of(row))
    for size in range(2, len(names) + 1):
        subsets, available = draw_instances(len(names), size, n_instances, np.random.default_rng([cfg.seed, size]))
        for index, subset in enumerate(tqdm(subsets, desc=f"merge t={size}", leave=False, dynamic_ncols=True)):
            unit = unit_of({"kind": "merged", "t": size, "instance": index})
            if unit in measured:
                continue
            merger.set([adapters[i] for i in subset], rule)
            for i in subset:
                value, n = accuracy(merger.model, tokenizer, suite.tasks[i], cfg, device)
                record.append({"kind": "merged", "t": size, "instance": index, "tasks": [names[j] for j in subset],
                               "task": names[i], "metric": "accuracy", "value": value, "n": n,
                               "available": available})
            checkpoint(record, names, unit)
    del merger
    eval_seconds = time.perf_counter() - start

    result = summarize(record.measurements(), names, cfg.seed)
    result["merge"] = {**rule_description(rule), "tau": TAU, "instances_requested": n_instances,
                       "instance_seed": "numpy default_rng([seed, t])",
                       "tasks_from": cfg.protocol_options.get("tasks_from") or suite.definition.get("tasks_from")
                       or suite.name}
    result["merge_rule"] = rule
    trainable = sorted({entry["trainable"] for entry in adapter_log})
    if len(trainable) != 1:
        raise RuntimeError(f"{method.name}: single-task adapters differ in trainable count {trainable}")
    spectral = {entry["task"]: entry["spectral"] for entry in adapter_log}
    for key in ("principal_energy", "drift_left", "drift_right"):
        result[key] = _mean([spectral[task]["mean"][key] for task in names])
    result.update({
        "budget": plan["budget"], "rank": plan["rank"], "rank_histogram": plan["rank_histogram"],
        "trainable_params": trainable[0],
        "planned_trainable": plan["planned_trainable"], "adapted_modules": plan["modules"],
        "adapters": adapter_log, "adapters_trained": sum(e["status"] == "trained" for e in adapter_log),
        "adapters_reused": sum(e["status"] == "reused" for e in adapter_log), "spectral_by_task": spectral,
        "seconds": {"adapters": trained_seconds, "evaluation": eval_seconds},
    })
    result.update(meter.record(adapter_mb, 0))  # one task per fresh method: no earlier adapter is kept
    return result


def summarize(rows: list[dict], task_names: list[str], seed: int) -> dict:
    """Final metrics from measurement rows only: single-task accuracies, per-size instances with
    merged accuracies, failures and retention, MergeFail and its CI, fixed leaderboard keys."""
    base = {r["task"]: r["value"] for r in rows if r.get("kind") == "base"}
    single = {r["task"]: r["value"] for r in rows if r.get("kind") == "single"}
    missing = [name for name in task_names if name not in single]
    if missing:
        raise ValueError(f"no single-task accuracy measured for {', '.join(missing)}")
    sizes: dict[str, dict] = {}
    for size in range(2, len(task_names) + 1):
        merged_rows = [r for r in rows if r.get("kind") == "merged" and r["t"] == size]
        by_instance: dict[int, dict] = {}
        for r in merged_rows:
            entry = by_instance.setdefault(r["instance"], {"tasks": r["tasks"], "acc": {}, "available": r["available"]})
            entry["acc"][r["task"]] = r["value"]
        order = sorted(by_instance)
        instances = [by_instance[i]["tasks"] for i in order]
        merged = [[by_instance[i]["acc"][task] for task in by_instance[i]["tasks"]] for i in order]
        summary = summarize_size(instances, merged, single, seed=[seed, size])
        sizes[str(size)] = {"instances": instances, "merged_accuracy": merged,
                            "available": by_instance[order[0]]["available"] if order else 0,
                            "used": len(instances), **summary}
    result: dict = {"tasks": list(task_names), "base_accuracy": base, "single_accuracy": single,
                    "single_accuracy_mean": _mean([single[n] for n in task_names]), "sizes": sizes}
    for size in range(2, max(len(task_names), max(TABLE_SIZES)) + 1):
        entry = sizes.get(str(size))
        result[f"mergefail_t{size}"] = entry["mergefail"] if entry else math.nan
        result[f"mergefail_t{size}_lo"] = entry["lo"] if entry else math.nan
        result[f"mergefail_t{size}_hi"] = entry["hi"] if entry else math.nan
        result[f"retention_t{size}"] = entry["mean_retention"] if entry else math.nan
    result["mean_retention"] = _mean([v for entry in sizes.values() for row in entry["retention"] for v in row])
    return result


def _mean(values: Sequence[float]) -> float:
    kept = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(kept) / len(kept) if kept else math.nan


# --- leaderboard extras --------------------------------------------------------------------------
def pooled_mergefail(records: list[dict]) -> list[dict]:
    """Per method and merge size: MergeFail pooled over seeds (units = (seed, instance)), its
    bootstrap CI, and the paired difference to the baseline method on the units both have."""
    from hipbench.leaderboard import record_label

    units: dict[str, dict[int, dict[tuple, bool]]] = {}
    for record in records:
        seed = record["config"]["config"]["seed"]
        for size, entry in record["metrics"].get("sizes", {}).items():
            bucket = units.setdefault(record_label(record), {}).setdefault(int(size), {})
            for tasks, failed in zip(entry["instances"], entry["failed"]):
                bucket[(seed, tuple(tasks))] = bool(failed)
    baseline = units.get(BASELINE, {})
    rows = []
    for label in sorted(units):
        for size in sorted(units[label]):
            bucket = units[label][size]
            keys = sorted(bucket)
            failed = [bucket[k] for k in keys]
            low, high = bootstrap_ci(failed, seed=[size])
            row = {"method": label, "t": size, "mergefail": float(np.mean(failed)), "lo": low, "hi": high,
                   "n": len(keys), "seeds": len({k[0] for k in keys})}
            reference = baseline.get(size, {})
            shared = [k for k in keys if k in reference]
            if label != BASELINE and shared:
                diff = paired_difference([bucket[k] for k in shared], [reference[k] for k in shared], seed=[size])
                row.update({"diff": diff["diff"], "diff_lo": diff["lo"], "diff_hi": diff["hi"], "diff_n": diff["n"]})
            rows.append(row)
    return rows


def example_scores(result: dict, rows: list[dict]) -> dict[str, tuple[str, dict[str, float]]]:
    """Per-example outcomes behind MergeFail(t): one 0/1 failure per merge instance, named by its
    task subset, so the same subset drawn in several seeds is one example (see
    `hipbench.paired.example_bootstrap`)."""
    return {f"mergefail_t{size}": ("merge instances", {"+".join(tasks): float(failed) for tasks, failed
                                                       in zip(entry["instances"], entry["failed"])})
            for size, entry in result.get("sizes", {}).items() if entry["instances"]}


def write_extras(records: list[dict], stem: Path) -> None:
    """Appended to `<stem>.md` (and the same numbers to `<stem>.json`): MergeFail pooled over
    seeds with its CI and the paired difference to lora."""
    from hipbench.leaderboard import table_file

    rows = pooled_mergefail(records)
    rules = sorted({r["metrics"].get("merge_rule", "?") for r in records})
    fmt = lambda v: "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731
    lines = ["", f"## MergeFail pooled over seeds, and paired difference to {BASELINE}", "",
             f"Merge rule: {', '.join(rules)}. Units are (seed, instance); 95% percentile bootstrap over units. "
             f"Δ = MergeFail(method) − MergeFail({BASELINE}) on the same units (paired bootstrap); negative = fewer "
             f"failures than {BASELINE}.", "",
             "| t | Method | MergeFail | 95% CI | Δ vs " + BASELINE + " | Δ 95% CI | Units (seeds) |",
             "|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r["t"], r["method"])):
        diff = (fmt(row["diff"]), f"[{fmt(row['diff_lo'])}, {fmt(row['diff_hi'])}]") if "diff" in row else ("—", "—")
        lines.append(f"| {row['t']} | {row['method']} | {fmt(row['mergefail'])} | [{fmt(row['lo'])}, {fmt(row['hi'])}] "
                     f"| {diff[0]} | {diff[1]} | {row['n']} ({row['seeds']}) |")
    md = table_file(stem, ".md")
    with open(md, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    table = table_file(stem, ".json")
    if table.is_file():  # the same numbers, machine-readable, next to the table's rows
        data = json.loads(table.read_text())
        data["mergefail_pooled"] = rows
        table.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_plots(records: list[dict], header: dict, rows: list[dict], stem: Path) -> list[Path]:
    """`<stem>.png` next to a merge table (`hipbench leaderboard --plots`): MergeFail pooled over
    seeds against t per method, with its 95% CI."""
    from hipbench.leaderboard import table_file
    from hipbench.plots import plot_mergefail

    rules = sorted({r["metrics"].get("merge_rule", "?") for r in records})
    title = f"{header['suite']} on {Path(header['model']).name}: merge rule {', '.join(rules)}, tau = {TAU}"
    return [plot_mergefail(pooled_mergefail(records), table_file(stem, ".png"), title)]
