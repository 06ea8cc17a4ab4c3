"""Merge the entries of tune OUT/tuned.json files into a tuned.json, as `hipbench tune` writes it."""
import sys
from pathlib import Path
from hipbench.records import read_json
from hipbench.tuning import write_tuned
target = Path(sys.argv[1])
for source in sys.argv[2:]:
    write_tuned(target, read_json(Path(source)))
