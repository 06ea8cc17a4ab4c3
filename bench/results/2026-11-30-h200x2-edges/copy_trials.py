"""Copy the tuning-trial records (data_split holdout-validation) of METHODS from SRC into DST, keeping
their relative paths, so `hipbench tune` finds its grid complete and runs only what is new."""
import json
import shutil
import sys
from pathlib import Path
src, dst, methods = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
count = 0
for config in src.glob("*/*/*/config.json"):
    c = json.loads(config.read_text())["config"]
    if c["method"] in methods and c["data_split"] == "holdout-validation" and c.get("tuning"):
        shutil.copytree(config.parent, dst / config.parent.relative_to(src))
        count += 1
print(f"copied {count} trial records of {methods}")
