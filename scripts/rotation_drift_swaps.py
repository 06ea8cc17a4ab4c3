"""How much of each row's rotation drift is singular values exchanged across k' rather than rotation
(issue 20): per row of a runs folder, the per-layer rotation drift values above a floor and how many
of them are a whole multiple n/k' (n ≥ 1) of the layer's recorded gap-aware width k'.

Why it is needed: rotation drift is the mean sin² of the top-k' principal angles. When an update moves
σ_i past the largest relative gap near k (a large HiP-LoRA budget allows that), n directions leave the
top-k' subspace whole and the value is exactly n/k': an exchange, not a turn. A genuine rotation by a
small angle gives sin²θ/k', practically never within 1e-4/k' of a multiple. The README's ablation
paragraph quotes this script's output (`leaderboards/checks/rotation-drift-swaps.txt`).

Usage: python scripts/rotation_drift_swaps.py leaderboards/hiplora-ablation/runs [--floor 1e-6]
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from hipbench.leaderboard import collect, record_label
from hipbench.records import read_layers
from hipbench.tuning_table import is_trial

SIDES = ("rotation_drift_left", "rotation_drift_right")
TOLERANCE = 1e-4  # on n = value * k', so exact to 1e-4 / k' in the value


def is_exchange(value: float, width: int) -> bool:
    """Whether `value` is n/width for a whole n ≥ 1: n directions left the top-`width` subspace whole."""
    n = round(value * width)
    return n >= 1 and abs(value * width - n) < TOLERANCE


def count_rows(runs: Path, floor: float) -> dict[str, list[int]]:
    """{row label: [records, values above floor, of them exchanges]} over the complete result records
    under `runs` (tuning trials, scored on validation data, are not table rows and are left out)."""
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for record in collect(runs)[0]:  # the complete records, as the tables read them
        if is_trial(record):
            continue
        counts = rows[record_label(record)]
        counts[0] += 1
        for layer in read_layers(record["dir"]).get("spectral", {}).values():
            for side in SIDES:
                value = layer.get(side)
                if value is not None and value > floor:
                    counts[1] += 1
                    counts[2] += is_exchange(value, int(layer["rotation_k"]))
    return dict(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--floor", type=float, default=1e-6, help="values at or below it count as zero")
    args = parser.parse_args()
    if not args.runs.is_dir():
        parser.error(f"runs folder {args.runs} does not exist")
    rows = count_rows(args.runs, args.floor)
    print(f"# per-layer rotation drift values (left and right) above {args.floor:g}, and those that are n/k'")
    print("# (n >= 1, within 1e-4/k'): exchanges across the gap-aware width, not rotations")
    print(f"# {'row':<48} {'records':>7} {'values':>7} {'n/k_prime':>9}")
    for label, (records, values, exchanges) in sorted(rows.items()):
        print(f"{label:<50} {records:>7} {values:>7} {exchanges:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
