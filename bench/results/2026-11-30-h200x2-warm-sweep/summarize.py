"""One line per run of the two warm-cache --cuda-graphs sweeps (records in sweep-1gpu.tgz and
sweep-2gpu.tgz, unpacked): its wall-clock from the sweep summary, then where it went as the record
times it: SVD set-up, training, evaluation by kind (option log-likelihoods, greedy decoding, facts and
text NLL), final diagnostics, and the rest (loading, export, start-up: the run's seconds less those).
    tar -xzf sweep-1gpu.tgz && tar -xzf sweep-2gpu.tgz
    python summarize.py summary-1gpu.json s18-1gpu summary-2gpu.json s18-2gpu > runs.tsv
"""
import json
import sys
from pathlib import Path

PARTS = ("setup_seconds", "evaluation_choice_seconds", "evaluation_exact_seconds", "evaluation_probes_seconds",
         "diagnostics_seconds")
print("sweep\tmethod\tseed\trun_seconds\ttrain_seconds\t" + "\t".join(p.removesuffix("_seconds") for p in PARTS)
      + "\trest")
arguments = sys.argv[1:]
for summary_file, root in zip(arguments[::2], arguments[1::2]):
    seconds = {Path(r["directory"]).name: r["seconds"] for r in json.loads(Path(summary_file).read_text())["results"]}
    for metrics_file in sorted(Path(root).glob("continual/*/*/*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        config = json.loads((metrics_file.parent / "config.json").read_text())["config"]
        run, train = seconds[metrics_file.parent.name], sum(task["seconds"] for task in metrics["train"])
        parts = [metrics[p] for p in PARTS]
        print(f"{root}\t{config['method']}\t{config['seed']}\t{run:.1f}\t{train:.1f}\t"
              + "\t".join(f"{p:.1f}" for p in parts) + f"\t{run - train - sum(parts):.1f}")
