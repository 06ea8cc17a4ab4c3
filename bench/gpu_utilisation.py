"""Mean and peak SM utilisation per GPU from an `nvidia-smi dmon -s u -d 5` log, the way
bench/RESULTS.md reports a sweep's GPU use (samples every 5 s over the whole sweep, idle tail included).

    python bench/gpu_utilisation.py bench/results/2026-11-30-h200x2-sweep/dmon-1gpu.txt
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
    for path in parser.parse_args().logs:
        for gpu, values in sorted(utilisation(path).items()):
            print(f"{path.name}  GPU {gpu}: {len(values)} samples, mean SM {sum(values) / len(values):.1f} %, "
                  f"peak {max(values)} %")


if __name__ == "__main__":
    main()
