"""What the leaderboard adds to a merge table (`hipbench.protocols.merge`): MergeFail pooled over
seeds with its paired difference to the baseline, per-example outcomes for the paired bootstrap,
the MergeFail figure and the Pareto figure.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from hipbench.mergefail import TAU, bootstrap_ci, paired_difference
from hipbench.pareto import Axis

# The Pareto figure: what survives a merge (retention) against what merging breaks (pairs that
# fail) and what the adapters had learned alone, and each against cost (`hipbench.plots.plot_pareto`)
PARETO_PRIMARY = Axis("mean_retention", "retention", True)
PARETO_TRADEOFFS = (Axis("mergefail_t2", "MergeFail t=2", False), Axis("single_accuracy_mean", "single-task acc", True))


def pooled_mergefail(records: list[dict]) -> list[dict]:
    """Per method and merge size: MergeFail pooled over seeds (units = (seed, instance)), its
    bootstrap CI, and the paired difference to the baseline method on the units both have."""
    from hipbench.leaderboard import baseline_label, record_label

    units: dict[str, dict[int, dict[tuple, bool]]] = {}
    for record in records:
        seed = record["config"]["config"]["seed"]
        for size, entry in record["metrics"].get("sizes", {}).items():
            bucket = units.setdefault(record_label(record), {}).setdefault(int(size), {})
            for tasks, failed in zip(entry["instances"], entry["failed"]):
                bucket[(seed, tuple(tasks))] = bool(failed)
    name = baseline_label(records)
    baseline = units.get(name, {})
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
            if label != name and shared:
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


def rule_text(metrics: dict) -> str:
    """`ties (trim: per module, ...)`: a record's merge rule, with its TIES trim where it has one."""
    trim = metrics.get("merge", {}).get("trim")
    return metrics.get("merge_rule", "?") + (f" (trim: {trim})" if trim else "")


def write_extras(records: list[dict], stem: Path) -> None:
    """Appended to `<stem>.md` (and the same numbers to `<stem>.json`): MergeFail pooled over
    seeds with its CI and the paired difference to lora."""
    from hipbench.leaderboard import baseline_label, table_file

    rows, baseline = pooled_mergefail(records), baseline_label(records)
    rules = sorted({rule_text(r["metrics"]) for r in records})
    fmt = lambda v: "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731
    lines = ["", f"## MergeFail pooled over seeds, and paired difference to {baseline}", "",
             f"Merge rule: {', '.join(rules)}. Units are (seed, instance); 95% percentile bootstrap over units. "
             f"Δ = MergeFail(method) − MergeFail({baseline}) on the same units (paired bootstrap); negative = fewer "
             f"failures than {baseline}.", "",
             "| t | Method | MergeFail | 95% CI | Δ vs " + baseline + " | Δ 95% CI | Units (seeds) |",
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
    seeds against t per method, with its 95% CI; and `<stem>__pareto.png`: MergeFail t=2 and
    single-task accuracy against retention, and against each cost the rows have, as Pareto fronts."""
    from hipbench.leaderboard import table_file
    from hipbench.plots import plot_mergefail, plot_pareto

    rules = sorted({r["metrics"].get("merge_rule", "?") for r in records})
    title = f"{header['suite']} on {Path(header['model']).name}: merge rule {', '.join(rules)}"
    return [plot_mergefail(pooled_mergefail(records), table_file(stem, ".png"), f"{title}, tau = {TAU}"),
            plot_pareto(rows, PARETO_PRIMARY, PARETO_TRADEOFFS, table_file(stem, "__pareto.png"),
                        f"{title}: fronts dashed, better up and right")]  # three panels wide: a short title
