"""One line per trial record of the merge tuning (the records themselves, 19 MB unpacked, are published
with the finished tuning under leaderboards/runs; until then they are kept outside git): what ran,
its objective, and its timing, as bench/RESULTS.md quotes them.
    python summarize.py TUNE_OUT/runs > trials.tsv
"""
import json
import sys
from pathlib import Path

print("method\ttrial\tlr\toptions\tstatus\tsingle_accuracy_mean\tstarted\tfinished\tadapter_seconds")
for metrics_file in sorted(Path(sys.argv[1]).glob("merge/*/*/*/metrics.json")):
    config = json.loads((metrics_file.parent / "config.json").read_text())
    metrics, cfg = json.loads(metrics_file.read_text()), config["config"]
    seconds = ",".join(f"{a['seconds']:.0f}" for a in metrics.get("adapters", []))
    print(f"{cfg['method']}\t{cfg['tuning']['trial']}\t{cfg['train']['lr']:g}\t{json.dumps(cfg['method_options'])}\t"
          f"{metrics['status']}\t{metrics.get('single_accuracy_mean', '')}\t{config['started']}\t"
          f"{metrics.get('finished', '')}\t{seconds}")
