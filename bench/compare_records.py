"""Two trees of run records side by side: the same runs (same config hash, so the same relative
directory) made by different executors, machines or commits, and how far their numbers are apart.

Why: a sweep through Ray must give the numbers `hipbench run` gives. A run's directory names its
config, so two trees that hold the same directory ran the same config; this prints, per run, the
headline metrics of both, their largest difference, and whether every measurement row is equal.
Nothing is typed by hand: every number is read from the records.

    python bench/compare_records.py leaderboards/runs/continual/smollm2-135m SWEEP/continual/smollm2-135m [--seeds 42]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from hipbench.records import read_measurements

METRICS = ("aa", "bwt", "fwt", "forgetting", "fact_retention", "nll_delta")
EDIT_METRICS = ("reliability", "generalization", "locality", "portability", "fact_retention", "nll_delta")


def rows(path: Path) -> list[dict]:
    return read_measurements(path, strict=True)


def row_difference(a: list[dict], b: list[dict]) -> tuple[int, float]:
    """(rows that differ, largest absolute difference of their values), rows paired in order."""
    differ, largest = abs(len(a) - len(b)), 0.0
    for x, y in zip(a, b):
        if x != y:
            differ += 1
            if isinstance(x.get("value"), (int, float)) and isinstance(y.get("value"), (int, float)):
                largest = max(largest, abs(x["value"] - y["value"]))
    return differ, largest


def compare(left: Path, right: Path, seeds: set[int] | None) -> list[str]:
    metrics = EDIT_METRICS if left.parent.name == "edit" else METRICS  # left is <runs>/<suite>/<model>
    lines = [f"left: {left}", f"right: {right}", "",
             "| run | " + " | ".join(f"{m} left / right" for m in metrics) + " | max abs diff | rows differing (max value diff) |",
             "|" + "---|" * (len(metrics) + 3)]
    worst = 0.0
    for metrics_path in sorted(left.glob("*/seed-*/metrics.json")):
        run = metrics_path.parent.relative_to(left)
        other = right / run / "metrics.json"
        seed = int(run.name.split("-")[1])
        if not other.is_file() or (seeds and seed not in seeds):
            continue
        a, b = json.loads(metrics_path.read_text()), json.loads(other.read_text())
        if a.get("status") != "complete" or b.get("status") != "complete":
            continue
        cells, diff = [], 0.0
        for key in metrics:
            x, y = a.get(key), b.get(key)
            cells.append(f"{x:.3f} / {y:.3f}" if isinstance(x, float) and isinstance(y, float) else f"{x} / {y}")
            if isinstance(x, float) and isinstance(y, float) and not (math.isnan(x) or math.isnan(y)):
                diff = max(diff, abs(x - y))
        worst = max(worst, diff)
        differ, largest = row_difference(rows(metrics_path.parent / "measurements.jsonl"),
                                         rows(other.parent / "measurements.jsonl"))
        lines.append(f"| {run} | " + " | ".join(cells) + f" | {diff:.2e} | {differ} ({largest:.2e}) |")
    lines += ["", f"largest metric difference over the runs shown: {worst:.3e}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("left", type=Path, help="<runs>/<suite>/<model> of the first tree")
    parser.add_argument("right", type=Path, help="the same level of the second tree")
    parser.add_argument("--seeds", default=None, help="only these seeds (comma-separated)")
    args = parser.parse_args()
    seeds = {int(s) for s in args.seeds.split(",")} if args.seeds else None
    print("\n".join(compare(args.left, args.right, seeds)))


if __name__ == "__main__":
    main()
