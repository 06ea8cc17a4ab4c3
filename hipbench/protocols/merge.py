"""Multi-adapter merging (PROTOCOLS.md section 3; HiP-LoRA paper, appendix C.3): MergeFail.

For one (method, seed):

1. **Single-task adapters.** Every task of the source suite (`--tasks-from`, default the built-in
   `continual` suite) gets its own adapter, trained from the base model: a fresh copy of the
   model, a fresh method instance, `train_task` with the run's `TrainConfig`, exactly the
   per-task training of the continual protocol. Each adapter is trained as if it were the only
   one: its initialisation, dropout and batch order come from generators seeded by
   (seed, task name), identical for every method and independent of which other tasks the suite
   holds. Its ΔW is cached (`merge_adapters`: the cache and its key) and its accuracy `a_single`
   is measured on base + ΔW.
2. **Instances.** For each merge size t = 2..T, `--merge-instances` (default 20) distinct task
   subsets are drawn from a generator seeded by (seed, t) only, so every method meets the same
   instances; when fewer than that many subsets exist, all of them are used once
   (`hipbench.mergefail.draw_instances`), and the number used is recorded.
3. **Merge and evaluate** (`merge_model`). The instance's ΔW are merged by `--merge-rule` (`sum`:
   task arithmetic; `ties`: TIES-merging, k = 20%, trimmed over each whole task vector or, with
   `--ties-trim module`, per module; λ = 1 for both and for every method, see `hipbench.merging`),
   added in place to one copy of the base model (restored from a saved
   copy of the target weights between instances: no adapter modules, no per-instance copies),
   and every task of the instance is scored on it.
4. **MergeFail(t)** is the fraction of instances in which some task falls below 0.9 × its
   single-task accuracy, with a 95% bootstrap CI over instances; per-task retention
   a_merged / a_single is recorded for every (instance, task). What the leaderboard adds to a merge
   table (pooled MergeFail, its figure) is `merge_tables`.

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

import math
import time
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hipbench import scoring
from hipbench.config import RunConfig
from hipbench.costs import CostMeter, peft_export_mb
from hipbench.drift import ROTATION_COLUMNS, ROTATION_OPTIONAL
from hipbench.export import export_peft_adapter
from hipbench.mergefail import TAU, draw_instances, summarize_size
from hipbench.merging import DEFAULT_RULE, EARLIER_TRIM, check_rule, check_trim, rule_description
from hipbench.method import Method
from hipbench.method_statistics import METHOD_COLUMNS, METHOD_OPTIONAL, method_columns
from hipbench.models import LoadedModel
from hipbench.protocols.continual import plan_budget
from hipbench.protocols.merge_adapters import ADAPTER_DIR, adapter_identity, adapter_key  # noqa: F401 (the cache)
from hipbench.protocols.merge_adapters import single_task_adapters
from hipbench.protocols.merge_model import InPlaceMerge, ties_thresholds
# the leaderboard's hooks of this protocol (`hipbench.leaderboard` finds them on this module)
from hipbench.protocols.merge_tables import example_scores, pooled_mergefail, write_extras, write_plots  # noqa: F401
from hipbench.records import RunRecord
from hipbench.spectral import RECORD_KEYS
from hipbench.suite import Suite, TaskData

DEFAULT_INSTANCES = 20
DEFAULT_TASKS_FROM = "continual"
CHECKPOINT_VERSION = 1
TABLE_SIZES = (2, 3, 4, 5)  # merge sizes with fixed leaderboard columns (continual: T = 4, cl-benchmark: 5)

OPTIONS: frozenset[str] = frozenset({"tasks_from", "merge_rule", "merge_instances", "ties_trim"})
TUNING_OBJECTIVE = ("mean single-task validation accuracy", ("single_accuracy_mean",))
LEADERBOARD_COLUMNS = [
    ("single_accuracy_mean", "Single-task acc"),
    *[column for t in TABLE_SIZES for column in ((f"mergefail_t{t}", f"MergeFail t={t}"),
                                                 (f"mergefail_t{t}_lo", f"t={t} CI lo"),
                                                 (f"mergefail_t{t}_hi", f"t={t} CI hi"))],
    ("mean_retention", "Retention"),
    ("principal_energy", "Principal energy"),
    ("drift_left", "Boundary drift U"),
    ("drift_right", "Boundary drift V"),
    *ROTATION_COLUMNS,
    *METHOD_COLUMNS,
]
LEADERBOARD_NOTE = (
    "Single-task acc = mean test accuracy of the single-task adapters (base + ΔW). MergeFail t = share of "
    "merge instances (distinct subsets of t tasks, the same for every method of a seed) in which some task "
    "falls below 0.9 × its single-task accuracy (HiP-LoRA appendix C.3); CI lo/hi = 95% bootstrap interval "
    "over one seed's instances, averaged over seeds (pooled intervals and paired differences to lora are "
    "below the table). n/a = the suite has fewer than t tasks. Retention = mean a_merged / a_single over all "
    "(instance, task) pairs. Principal energy and Boundary drift U/V are the spectral diagnostics of the single-task "
    "adapters (k = 32), averaged over tasks and adapted layers. Merge rule λ = 1 for every method."
)
OPTIONAL_COLUMNS = {**ROTATION_OPTIONAL, **METHOD_OPTIONAL}  # columns added after records were published (hipbench.leaderboard)

# Outcome metrics compared with the baseline under the table (not the per-seed CI bounds).
PAIRED_COLUMNS = ("single_accuracy_mean", *(f"mergefail_t{t}" for t in TABLE_SIZES), "mean_retention")


def trained_alone(metrics: dict) -> bool:
    """Every adapter of a merge run is trained by itself from the base model (step 1)."""
    return True


# --- options -------------------------------------------------------------------------------------
def merge_settings(cfg: RunConfig, n_tasks: int) -> tuple[str, str, int]:
    """(rule, TIES trim, instances per size) from the run's protocol options, with one-line errors.
    A ties run whose options name no trim trims per module, as every record made before
    `--ties-trim` existed did (`hipbench.merging.trim_option` names the global one)."""
    options = cfg.protocol_options
    rule = check_rule(str(options.get("merge_rule", DEFAULT_RULE)))
    trim = check_trim(str(options.get("ties_trim", EARLIER_TRIM)))
    if "ties_trim" in options and rule != "ties":
        raise ValueError(f"--ties-trim {trim}: applies to --merge-rule ties only")
    instances = options.get("merge_instances", DEFAULT_INSTANCES)
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise ValueError(f"--merge-instances must be an integer of at least 1 (got {instances!r})")
    if n_tasks < 2:
        raise ValueError(f"--tasks-from {options.get('tasks_from', DEFAULT_TASKS_FROM)}: merging needs a suite "
                         f"with at least 2 tasks, this one has {n_tasks}")
    return rule, trim, instances


def prepare_suite(suite: Suite, cfg: RunConfig) -> Suite:
    """Called by the runner before the model loads: bad merge options fail before anything is
    written. The suite itself is used as it is."""
    merge_settings(cfg, len(suite.tasks))
    return suite


# --- evaluation ---
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
    rule, trim, n_instances = merge_settings(cfg, len(suite.tasks))
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
    thresholds = ties_thresholds(merger, adapters) if rule == "ties" and trim == "global" else None
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
            merger.set([adapters[i] for i in subset], rule,
                       None if thresholds is None else [thresholds[i] for i in subset])
            for i in subset:
                value, n = accuracy(merger.model, tokenizer, suite.tasks[i], cfg, device)
                record.append({"kind": "merged", "t": size, "instance": index, "tasks": [names[j] for j in subset],
                               "task": names[i], "metric": "accuracy", "value": value, "n": n,
                               "available": available})
            checkpoint(record, names, unit)
    del merger
    eval_seconds = time.perf_counter() - start

    result = summarize(record.measurements(), names, cfg.seed)
    result["merge"] = {**rule_description(rule, trim), "tau": TAU, "instances_requested": n_instances,
                       "instance_seed": "numpy default_rng([seed, t])",
                       "tasks_from": cfg.protocol_options.get("tasks_from") or suite.definition.get("tasks_from")
                       or suite.name}
    result["merge_rule"] = rule
    trainable = sorted({entry["trainable"] for entry in adapter_log})
    if len(trainable) != 1:
        raise RuntimeError(f"{method.name}: single-task adapters differ in trainable count {trainable}")
    spectral = {entry["task"]: entry["spectral"] for entry in adapter_log}
    for key in RECORD_KEYS:
        result[key] = _mean([spectral[task]["mean"][key] for task in names])
    result.update(method_columns(adapter_log))  # adapters cached before it was measured: no column
    result.update({
        "budget": plan["budget"], "rank": plan["rank"], "rank_histogram": plan["rank_histogram"],
        "trainable_params": trainable[0],
        "planned_trainable": plan["planned_trainable"], "adapted_modules": plan["modules"],
        "adapters": adapter_log, "adapters_trained": sum(e["status"] == "trained" for e in adapter_log),
        "adapters_reused": sum(e["status"] == "reused" for e in adapter_log),
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
