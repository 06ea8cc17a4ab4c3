"""General capability measured by lm-evaluation-harness (`--general-eval lm-eval:TASK[,TASK]`):
the run options as config data, the measurement rows as metrics, the metrics as leaderboard columns.

The suites' own probes (fact retention, NLL on general text) are cheap and need no data from a
hub, but readers of this field compare general capability on lm-evaluation-harness tasks (ARC,
HellaSwag, MMLU). With `--general-eval`, the continual protocol also scores the model on those
tasks: the base model at boundary 0, the adapted model after the last task (and after every task
with `--general-eval-every-task`). Each task's main metric, the first one its config declares
(`acc` for a multiple-choice task; a group's aggregate for a group such as `mmlu`), is recorded
per boundary in `measurements.jsonl`, with one score per example where the metric is a mean of
per-example scores; the metrics hold its value after the last task and its change from the base
model, and tables show both with paired CIs (`hipbench.comparisons`).

This module is pure data: it never imports lm_eval (that is `hipbench.lmeval_backend`, loaded only
when a run asks for it), so tables of lm-eval records build without the extra installed.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

BACKENDS = ("lm-eval",)
ROW_TASK_PREFIX = "lm-eval:"  # measurement rows: task "lm-eval:arc_easy", metric "acc,none"
KEY_PREFIX = "lm_eval:"  # metrics keys: "lm_eval:arc_easy:acc" and "lm_eval:arc_easy:acc:delta"
DELTA_SUFFIX = ":delta"
NOTE = ("lm-eval T M = lm-evaluation-harness task T's main metric M (the first its config declares; a group's "
        "aggregate) for the adapted model after the last task, scored in memory; Δ = its change from the base "
        "model on the same examples (the header gives the tasks, the example limit and the lm-eval version).")


def parse_spec(text: str) -> tuple[str, tuple[str, ...]]:
    """`lm-eval:arc_easy,hellaswag` -> ("lm-eval", ("arc_easy", "hellaswag")); ValueError names the option."""
    backend, sep, names = text.partition(":")
    if not sep or backend.strip() not in BACKENDS:
        raise ValueError(f"--general-eval {text}: expected BACKEND:TASK[,TASK], BACKEND one of {', '.join(BACKENDS)} "
                         "(e.g. lm-eval:arc_easy,hellaswag)")
    tasks = tuple(dict.fromkeys(name.strip() for name in names.split(",") if name.strip()))
    if not tasks:
        raise ValueError(f"--general-eval {text}: no task named after '{backend.strip()}:'")
    return backend.strip(), tasks


def config_block(spec: str | None, limit: int | None = None, every_task: bool = False,
                 include: str | None = None) -> dict:
    """The run config's `general_eval` field: empty without `--general-eval` (so records made before
    it keep their hash), else backend, tasks, example limit, boundaries and the task directory."""
    if spec is None:
        given = [name for name, value in (("--general-eval-limit", limit), ("--general-eval-every-task", every_task),
                                          ("--general-eval-include", include)) if value]
        if given:
            raise ValueError(f"{given[0]}: only with --general-eval")
        return {}
    backend, tasks = parse_spec(spec)
    if limit is not None and limit < 1:
        raise ValueError(f"--general-eval-limit must be at least 1 (got {limit})")
    return {"backend": backend, "tasks": list(tasks), "limit": limit, "every_task": bool(every_task),
            "include": include}


def boundaries(block: dict, task_count: int) -> set[int]:
    """The task boundaries scored: the base model (0) and the last task, or every boundary."""
    if not block:
        return set()
    return set(range(task_count + 1)) if block["every_task"] else {0, task_count}


def metric_name(metric: str) -> str:
    """lm-eval's "acc,none" -> "acc"; a filtered metric keeps its filter: "exact_match (strict-match)"."""
    name, _, filt = metric.partition(",")
    return name if filt in ("", "none") else f"{name} ({filt})"


def value_key(task: str, metric: str) -> str:
    return f"{KEY_PREFIX}{task}:{metric_name(metric)}"


def summarize(rows: Iterable[dict], task_count: int) -> dict:
    """The metrics of a run from its lm-eval rows: per task the value after the last task
    (`value_key`) and its change from the base (`... + DELTA_SUFFIX`), and a `general_eval` block
    with base, final, metric, example count and lm-eval version; empty when no rows exist."""
    scored: dict[tuple[str, int], dict] = {}
    for row in rows:
        if str(row.get("task", "")).startswith(ROW_TASK_PREFIX):
            scored[(row["task"].removeprefix(ROW_TASK_PREFIX), row["after_task"])] = row
    result, block = {}, {}
    for task in dict.fromkeys(task for task, _ in scored):
        base, final = scored.get((task, 0)), scored.get((task, task_count))
        if base is None or final is None:
            continue
        key = value_key(task, final["metric"])
        result[key] = final["value"]
        result[key + DELTA_SUFFIX] = final["value"] - base["value"]
        block[task] = {"metric": final["metric"], "base": base["value"], "final": final["value"], "n": final["n"],
                       "version": final.get("version")}
    if block:
        result["general_eval"] = block
    return result


def columns(metrics: Sequence[dict]) -> list[tuple[str, str]]:
    """(key, title) of the lm-eval columns any of these metrics dicts (or table rows) has: per task
    its value then its Δ, tasks in name order; none for records without `--general-eval`."""
    keys = sorted({key for m in metrics for key in m if key.startswith(KEY_PREFIX)})
    return [(key, title(key)) for key in keys]


def title(key: str) -> str:
    """`lm_eval:arc_easy:acc:delta` -> "lm-eval arc_easy acc Δ"."""
    body = key.removeprefix(KEY_PREFIX)
    delta = body.endswith(DELTA_SUFFIX)
    task, _, metric = body.removesuffix(DELTA_SUFFIX).partition(":")
    return f"lm-eval {task} {metric}" + (" Δ" if delta else "")


def paired_columns(metrics: Sequence[dict]) -> list[tuple[str, str]]:
    """The lm-eval columns compared with the baseline: the changes from the base model (the
    value after the last task differs from it by the base score, the same for every method)."""
    return [(key, name) for key, name in columns(metrics) if key.endswith(DELTA_SUFFIX)]


def example_scores(rows: Sequence[dict], task_count: int) -> dict[str, tuple[str, dict[str, float]]]:
    """Per-example changes from the base model, for the paired bootstrap over examples: Δ key ->
    (unit, example -> final − base score); only tasks whose metric is a mean of per-example scores
    (the rows keep `values` then), so the examples' mean is the Δ of the table."""
    found: dict[tuple[str, int], dict] = {(r["task"], r["after_task"]): r for r in rows
                                          if str(r.get("task", "")).startswith(ROW_TASK_PREFIX)}
    scores = {}
    for (task, after), final in found.items():
        base = found.get((task, 0))
        if after != task_count or base is None or "values" not in final or "values" not in base:
            continue
        if len(final["values"]) != len(base["values"]):
            continue
        name = task.removeprefix(ROW_TASK_PREFIX)
        per_example = {str(i): float(b - a) for i, (a, b) in enumerate(zip(base["values"], final["values"]))
                       if math.isfinite(a) and math.isfinite(b)}
        scores[value_key(name, final["metric"]) + DELTA_SUFFIX] = (f"{name} examples", per_example)
    return scores


def header_text(block: dict) -> str:
    """The table header's line for the lm-eval columns: tasks, example limit, boundaries, and the
    lm-eval versions the records name (`versions`)."""
    version = ", ".join(block.get("versions", []))
    limit = "all examples" if block.get("limit") is None else f"first {block['limit']} examples per task"
    where = "every task boundary" if block.get("every_task") else "the base model and after the last task"
    return (f"lm-evaluation-harness{' ' + version if version else ''}: {', '.join(block['tasks'])}; {limit}; "
            f"scored at {where}")
