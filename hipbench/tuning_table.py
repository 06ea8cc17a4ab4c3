"""Tuning tables: every trial of `hipbench tune` with its settings and validation objective, the
chosen one marked, one table per (suite, model, protocol options), built from the trial records
(runs with `data_split = "holdout-validation"`) like every other table, so a reader can check that
every method got the same number of trials and where its choice came from.

A trial is the set of runs that share a method and settings (options, learning rate, steps, batch
size) over the tuning seeds; its objective is the protocol's `TUNING_OBJECTIVE` averaged over them,
which is what `hipbench tune` maximised. Ties go to the earliest trial, as in tuned.json.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from hipbench.leaderboard import config_value, is_editor_record, options_slug, protocol_of
from hipbench.metrics import mean_std
from hipbench.tuning import objective_of


def is_trial(record: dict) -> bool:
    return config_value(record["config"]["config"], "data_split") == "holdout-validation"


def _setting(cfg: dict) -> tuple:
    train = cfg["train"]
    return (json.dumps(cfg["method_options"], sort_keys=True), train["lr"], train["steps"], train["batch_size"])


def trial_rows(records: list[dict]) -> list[dict]:
    """One row per (method, setting), trials in the order tuning numbered them."""
    trials: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        cfg = record["config"]["config"]
        trials[(cfg["method"], _setting(cfg))].append(record)
    rows = []
    for (method, (options, lr, steps, batch_size)), group in trials.items():
        values = [objective_of(protocol_of(r), r["metrics"]) for r in group]
        mean, std, _ = mean_std(values)
        numbers = [r["config"]["config"].get("tuning", {}).get("trial") for r in group]
        rows.append({"method": method, "trial": min((n for n in numbers if n is not None), default=None),
                     "options": json.loads(options), "lr": lr, "steps": steps, "batch_size": batch_size,
                     "seeds": sorted(r["config"]["config"]["seed"] for r in group), "objective": mean,
                     "objective_std": std, "hardware": sorted({_hardware(r) for r in group}),
                     "editor": is_editor_record(group[0])})
    rows.sort(key=lambda r: (r["method"], r["trial"] if r["trial"] is not None else 1 << 30, r["lr"]))
    for method in {r["method"] for r in rows}:
        mine = [r for r in rows if r["method"] == method]
        best = max(mine, key=lambda r: (r["objective"], -mine.index(r)))
        best["chosen"] = True
        best["edges"] = grid_edges(mine, best)
    return rows


def _hardware(record: dict) -> str:
    """Where a trial ran, short: `NVIDIA H200 (bf16 autocast)`; trials of one table may differ
    (an editor's layers tuned on the CPU beside adapters tuned on a GPU), and the reader sees it."""
    environment = record["config"].get("environment", {})
    precision = str(environment.get("dtype", "?")).split(",")[0]
    return f"{environment.get('hardware', '?')} ({precision})"


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def grid_edges(trials: list[dict], chosen: dict) -> list[str]:
    """The searched settings at whose lowest or highest tried value the choice sits (`lr max`,
    `budget min`): there the best setting may lie outside the range, which a reader should know
    before reading a tuned row as the method at its best. Only numeric settings tried at 3 or more
    values count (with two, every choice is at an edge)."""
    settings = {"lr": lambda r: r["lr"], **{key: (lambda r, key=key: _number(r["options"].get(key)))
                                            for r in trials for key in r["options"]}}
    edges = []
    for name, value_of in settings.items():
        values = sorted({v for v in map(value_of, trials) if v is not None})
        mine = value_of(chosen)
        if len(values) >= 3 and mine is not None and mine in (values[0], values[-1]):
            edges.append(f"{name} {'min' if mine == values[0] else 'max'}")
    return edges


def render(rows: list[dict], title: str, objective_name: str) -> str:
    counts = {m: sum(r["method"] == m for r in rows) for m in sorted({r["method"] for r in rows})}
    # a knowledge editor trains nothing at the shared lr, steps and batch size: shown as "-"
    table = [[r["method"], "" if r["trial"] is None else r["trial"], "-" if r.get("editor") else f"{r['lr']:g}",
              ", ".join(f"{k}={v}" for k, v in sorted(r["options"].items())) or "-",
              *(["-", "-"] if r.get("editor") else [r["steps"], r["batch_size"]]),
              ",".join(map(str, r["seeds"])), "; ".join(r["hardware"]), f"{r['objective']:.4f}" + (f" ± {r['objective_std']:.4f}"
                                                                           if len(r["seeds"]) > 1 else ""),
              _mark(r)] for r in rows]
    headers = ["Method", "Trial", "lr", "Options", "Steps", "Batch", "Seeds", "Hardware", f"Objective ({objective_name})", ""]
    lines = [f"# {title}", "",
             "Every tuning trial, scored on the validation split held out of the training data (no test example "
             "is read); the chosen setting per method is the highest objective, ties to the earliest trial.", "",
             "Trials per method: " + ", ".join(f"{m} {n}" for m, n in counts.items()), "",
             tabulate(table, headers=headers, tablefmt="pipe", disable_numparse=True), ""]
    at_edge = [f"{r['method']} ({', '.join(r['edges'])})" for r in rows if r.get("edges")]
    if at_edge:
        lines += ["Chosen at the edge of the searched range, so a better setting may lie beyond it: "
                  + "; ".join(at_edge) + ".", ""]
    return "\n".join(lines)


def _mark(row: dict) -> str:
    if not row.get("chosen"):
        return ""
    return "chosen" + (f" (edge: {', '.join(row['edges'])})" if row.get("edges") else "")


def write_tuning_tables(records: list[dict], out_dir: Path) -> list[Path]:
    """`<suite>__<model>[__<options>]__tuning.md` for every group of trial records."""
    from hipbench.protocols import protocol_module

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        if is_trial(record):
            cfg = record["config"]["config"]
            groups[(cfg["suite"], cfg["model"], options_slug(cfg.get("protocol_options", {})))].append(record)
    written = []
    for (suite, model, options), group in sorted(groups.items()):
        name, _ = protocol_module(protocol_of(group[0])).TUNING_OBJECTIVE
        path = out_dir / (f"{suite}__{Path(model).name}" + (f"__{options}" if options else "") + "__tuning.md")
        path.write_text(render(trial_rows(group), f"Tuning: {suite} on {model}" + (f" ({options})" if options else ""),
                               name))
        written.append(path)
    return written
