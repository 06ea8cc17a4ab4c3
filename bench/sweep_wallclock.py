"""Wall-clock of a recorded sweep, read from its run records (no re-run, nothing typed by hand).

Why from records: every record keeps when it started (config.json) and finished (metrics.json), so
the time the published continual sweep took on its GPU is already on disk. Runs that overlapped in
time were one batch of parallel processes; the sweep's wall-clock is the sum of its batches'
spans, which excludes the gaps between batches (the machine idled or was busy with other work).

    python bench/sweep_wallclock.py leaderboards/runs/continual/smollm2-135m
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path


def _time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def spans(root: Path) -> list[tuple[str, datetime, datetime, str]]:
    """(run, started, finished, hardware) of every complete record under `root`, by start time."""
    found = []
    for metrics_path in sorted(root.rglob("metrics.json")):
        metrics = json.loads(metrics_path.read_text())
        if metrics.get("status") != "complete":
            continue
        config = json.loads((metrics_path.parent / "config.json").read_text())
        run = str(metrics_path.parent.relative_to(root))
        found.append((run, _time(config["started"]), _time(metrics["finished"]),
                      config.get("environment", {}).get("hardware", "?")))
    return sorted(found, key=lambda s: s[1])


def batches(runs: list[tuple[str, datetime, datetime, str]]) -> list[list[tuple[str, datetime, datetime, str]]]:
    """Group runs whose time spans overlap (chained): one group per batch of parallel processes."""
    groups: list[list] = []
    end = None
    for run in runs:
        if end is None or run[1] > end:
            groups.append([])
        groups[-1].append(run)
        end = run[2] if end is None or run[1] > end else max(end, run[2])
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="a directory of run records, e.g. leaderboards/runs/continual/smollm2-135m")
    args = parser.parse_args()
    runs = spans(args.root)
    if not runs:
        raise SystemExit(f"{args.root}: no complete run records")
    total = 0.0
    for group in batches(runs):
        start, end = min(r[1] for r in group), max(r[2] for r in group)
        seconds = (end - start).total_seconds()
        total += seconds
        names = ", ".join(sorted(r[0].split("/")[0] + "/" + r[0].split("/")[1].split("-")[1] for r in group))
        print(f"{start:%Y-%m-%dT%H:%M:%SZ}  {seconds / 60:6.1f} min  {len(group):2d} runs  {names}")
    hardware = sorted({r[3] for r in runs})
    print(f"total: {len(runs)} runs in {total / 60:.1f} min of batch wall-clock on {', '.join(hardware)}")


if __name__ == "__main__":
    main()
