"""One line per run of the two --cuda-graphs sweeps (records in sweep-1gpu.tgz and sweep-2gpu.tgz,
unpacked): its wall-clock from the sweep summary, the SVD set-up it paid, its training seconds, and how
many of its steps ran eagerly, were captured and were replayed, as bench/RESULTS.md quotes them.
    tar -xzf sweep-1gpu.tgz && tar -xzf sweep-2gpu.tgz
    python summarize.py summary-1gpu.json s18-1gpu summary-2gpu.json s18-2gpu > runs.tsv
"""
import json
import sys
from pathlib import Path

print("sweep\tmethod\tseed\trun_seconds\tsetup_seconds\ttrain_seconds\teager\tcaptured\treplayed")
arguments = sys.argv[1:]
for summary_file, root in zip(arguments[::2], arguments[1::2]):
    seconds = {Path(r["directory"]).name: r["seconds"] for r in json.loads(Path(summary_file).read_text())["results"]}
    for metrics_file in sorted(Path(root).glob("continual/*/*/*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        config = json.loads((metrics_file.parent / "config.json").read_text())["config"]
        counts = {key: sum(task["graphs"][key] for task in metrics["train"]) for key in ("eager", "captured", "replayed")}
        print(f"{root}\t{config['method']}\t{config['seed']}\t{seconds[metrics_file.parent.name]:.1f}\t"
              f"{metrics['setup_seconds']:.1f}\t{sum(task['seconds'] for task in metrics['train']):.1f}\t"
              f"{counts['eager']}\t{counts['captured']}\t{counts['replayed']}")
