"""One line per trial record of the merge tuning (the records themselves are published under
leaderboards/runs/merge since the tuning finished): what ran, its objective, and its timing, as
bench/RESULTS.md quotes them.
    python summarize.py leaderboards/runs > trials.tsv   (or a tuning's OUT/runs)
"""
import json
import sys
from pathlib import Path

print("method\ttrial\tlr\toptions\tstatus\tsingle_accuracy_mean\tstarted\tfinished\tadapter_seconds")
for metrics_file in sorted(Path(sys.argv[1]).glob("merge/*/*/*/metrics.json")):
    config = json.loads((metrics_file.parent / "config.json").read_text())
    metrics, cfg = json.loads(metrics_file.read_text()), config["config"]
    if "trial" not in cfg.get("tuning", {}):
        continue  # a published test run beside the trials
    seconds = ",".join(f"{a['seconds']:.0f}" for a in metrics.get("adapters", []))
    print(f"{cfg['method']}\t{cfg['tuning']['trial']}\t{cfg['train']['lr']:g}\t{json.dumps(cfg['method_options'])}\t"
          f"{metrics['status']}\t{metrics.get('single_accuracy_mean', '')}\t{config['started']}\t"
          f"{metrics.get('finished', '')}\t{seconds}")
