"""Mean and peak SM utilisation per GPU from an `nvidia-smi dmon -s u -d 5` log, the way
bench/RESULTS.md reports a sweep's GPU use (samples every 5 s over the whole sweep, idle tail included).

    python bench/gpu_utilisation.py bench/results/2026-11-30-h200x2-sweep/dmon-1gpu.txt
    python bench/gpu_utilisation.py dmon.txt --span 438 651   # one phase of a longer log

`--span FROM TO` reads only the samples between FROM and TO seconds after the log's first sample
(dmon writes one line per GPU every `--every` seconds and no clock), so one log kept over a whole
pipeline gives each phase's utilisation from the phase's start and end in its `phases.txt`.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path


def utilisation(path: Path) -> dict[str, list[int]]:
    """SM % samples per GPU index; header and malformed lines are skipped."""
    samples: dict[str, list[int]] = defaultdict(list)
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2 and not line.startswith("#") and fields[1].isdigit():
            samples[fields[0]].append(int(fields[1]))
    return dict(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("logs", type=Path, nargs="+")
    parser.add_argument("--span", type=float, nargs=2, metavar=("FROM", "TO"),
                        help="seconds after the first sample: only the samples in between")
    parser.add_argument("--every", type=float, default=5.0, help="dmon's sampling interval (-d), seconds")
    args = parser.parse_args()
    for path in args.logs:
        for gpu, values in sorted(utilisation(path).items()):
            if args.span:
                values = values[int(args.span[0] // args.every):int(args.span[1] // args.every)]
                if not values:
                    raise SystemExit(f"{path}: no samples between {args.span[0]:g} and {args.span[1]:g} s")
            print(f"{path.name}  GPU {gpu}: {len(values)} samples, mean SM {sum(values) / len(values):.1f} %, "
                  f"peak {max(values)} %")


if __name__ == "__main__":
    main()
