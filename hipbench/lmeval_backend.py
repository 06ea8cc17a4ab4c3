"""lm-evaluation-harness around the model being trained, in memory: the backend of
`--general-eval lm-eval:TASK[,TASK]` (what is recorded: `hipbench.general_eval`).

lm-eval's HF wrapper (`lm_eval.models.huggingface.HFLM`) takes a model object and its tokenizer,
so the adapted model is scored as it stands, adapters attached, with no export and reload (which
would need every method's update in a format lm-eval can load). The package is an optional extra
(`pip install -e ".[lmeval]"`), imported only here and only when a run asks for it; `check` runs
before any model loads, so a missing extra or an unknown task name fails in one line before
training starts.

lm-eval seeds Python's, numpy's and torch's global generators for its few-shot sampling; `score`
puts them back afterwards, so a run's training (dropout, which reads torch's global generator)
is the same with or without `--general-eval`.
"""
from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
import torch
from torch import nn

from hipbench.general_eval import ROW_TASK_PREFIX

INSTALL = 'pip install -e ".[lmeval]"'


def require() -> Any:
    """The `lm_eval` package, or a one-line error saying how to install it."""
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM  # noqa: F401  (the HF extra's dependencies)
    except ImportError as error:
        raise ValueError(f"--general-eval lm-eval: lm-evaluation-harness is not installed ({error}); "
                         f"install the extra: {INSTALL}") from None
    return lm_eval


@functools.lru_cache(maxsize=4)
def task_manager(include: str | None):
    """lm-eval's task index (its own tasks plus the YAML configs under `include`); indexing
    takes seconds, so one per directory and process."""
    require()
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include) if include else TaskManager()


def check(block: dict) -> None:
    """Fail in one line, before anything loads, on a missing extra, a missing task directory or a
    task (or group) name lm-eval does not know."""
    from pathlib import Path

    require()
    if block.get("include") is not None and not Path(block["include"]).is_dir():
        raise FileNotFoundError(f"--general-eval-include {block['include']} is not a directory")
    manager = task_manager(block.get("include"))
    unknown = [name for name in block["tasks"] if name not in set(manager.all_tasks)]
    if unknown:
        raise ValueError(f"--general-eval: unknown lm-eval task {', '.join(unknown)} (`lm-eval ls tasks` lists "
                         f"them; a task of your own: --general-eval-include DIR with its YAML)")
    tags = [name for name in block["tasks"] if name in set(getattr(manager, "all_tags", []))]
    if tags:  # a tag reports no score of its own, only its tasks'
        raise ValueError(f"--general-eval: {tags[0]} is an lm-eval tag, not a task or group; name its tasks")


def main_metric(results: dict, task: str) -> str:
    """The "metric,filter" key of a task's main metric: the first its config's `metric_list`
    declares (the result entry's own order is not the declared one), or for a group, which has
    no such list, the first metric of its result entry."""
    entry = results["results"][task]
    found = [key for key in entry if "," in key and not key.split(",")[0].endswith("_stderr")]
    declared = [m.get("metric") for m in results.get("configs", {}).get(task, {}).get("metric_list") or []]
    for name in declared:
        for key in found:
            if key.split(",")[0] == name:
                return key
    if not found:
        raise ValueError(f"lm-eval task {task}: its result has no metric ({', '.join(sorted(entry))})")
    return found[0]


def per_example(results: dict, task: str, metric: str) -> list[float] | None:
    """Each example's score in doc order, where the task's metric is a mean of them (a leaf task
    whose metric aggregates by "mean"); None otherwise (groups, corpus-level metrics)."""
    samples = results.get("samples", {}).get(task)
    name, _, filt = metric.partition(",")
    declared = {m.get("metric"): m.get("aggregation") for m in results.get("configs", {}).get(task, {})
                .get("metric_list", []) or []}
    if not samples or declared.get(name) != "mean":
        return None
    chosen = [s for s in samples if s.get("filter", "none") == filt and name in s]
    return [float(s[name]) for s in sorted(chosen, key=lambda s: s["doc_id"])]


@functools.lru_cache(maxsize=None)
def _version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def score(model: nn.Module, tokenizer, block: dict, device: torch.device, batch_size: int) -> list[dict]:
    """Score `model` on the block's tasks; one measurement row per task (without `after_task`):
    task "lm-eval:NAME", its main metric, value, example count, per-example scores where the
    metric averages them, and the lm-eval version. Global RNG states are restored afterwards."""
    lm_eval = require()
    from lm_eval.models.huggingface import HFLM

    state = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
             torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None)
    training = model.training
    model.eval()
    try:
        wrapper = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size,
                       mixed_precision_dtype=torch.bfloat16 if device.type == "cuda" else None)
        results = lm_eval.simple_evaluate(model=wrapper, tasks=list(block["tasks"]), limit=block.get("limit"),
                                          task_manager=task_manager(block.get("include")), bootstrap_iters=0,
                                          log_samples=True, verbosity="WARNING")
    finally:
        model.train(training)
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])
        if state[3] is not None:
            torch.cuda.set_rng_state_all(state[3])
    rows = []
    for task in block["tasks"]:
        entry = results["results"][task]
        metric = main_metric(results, task)
        values = per_example(results, task, metric)
        n = len(values) if values is not None else _count(results, task)
        row = {"task": ROW_TASK_PREFIX + task, "metric": metric, "value": float(entry[metric]), "n": n,
               "version": _version()}
        if values is not None:
            row["values"] = values
        rows.append(row)
    return rows


def _count(results: dict, task: str) -> int:
    """Examples scored for a task, or for a group the sum over its subtasks."""
    counts = results.get("n-samples", {})
    if task in counts:
        return int(counts[task]["effective"])
    return sum(_count(results, sub) for sub in results.get("group_subtasks", {}).get(task, []))
