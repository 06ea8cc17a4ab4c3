"""One line per cl-benchmark tuning trial record (complete or not): what ran, its objective
(validation AA), its peak allocated GPU memory, and when it started and finished, as
bench/RESULTS.md quotes them.
    python summarize.py OUT/runs > trials.tsv     (OUT: the tuning's --out; or complete-trials.tgz unpacked)
"""
import json
import sys
from pathlib import Path

print("method\ttrial\tlr\toptions\tstatus\tvalidation_aa\tpeak_allocated_gb\tstarted\tfinished")
for metrics_file in sorted(Path(sys.argv[1]).glob("cl-benchmark/*/*/*/metrics.json")):
    config = json.loads((metrics_file.parent / "config.json").read_text())
    metrics, cfg = json.loads(metrics_file.read_text()), config["config"]
    print(f"{cfg['method']}\t{cfg['tuning']['trial']}\t{cfg['train']['lr']:g}\t{json.dumps(cfg['method_options'])}\t"
          f"{metrics['status']}\t{metrics.get('aa', '')}\t{metrics.get('peak_memory_gb', '')}\t{config['started']}\t"
          f"{metrics.get('finished', '')}")
