#!/usr/bin/env bash
# Waits up to $1 seconds (or until the pipeline is done), then packs what the pipeline wrote (records, logs,
# tuning files; no checkpoints) into $OUT/w.tgz and prints where it stands.
M=${2:- done}; W=/root/w; end=$(( $(date +%s) + $1 ))
while [ $(date +%s) -lt $end ] && ! grep -q "$M" $W/phases.txt 2>/dev/null; do sleep 5; done
cd $W && find . \( -name config.json -o -name metrics.json -o -name layers.json.gz -o -name measurements.jsonl -o -name measurements.jsonl.gz -o -name '*.log' -o -name tuned.json \
  -o -name tuning.db -o -name 'summary*.json' -o -name 'sweep-*.json' -o -name '*.txt' -o -name '*.yaml' \) -print0 | tar --null -czf $OUT/w.tgz -T -
cat $W/phases.txt; ls -la $OUT; for f in $W/*.log; do echo "== $f"; tail -n 3 $f; done
echo "complete: $(grep -l '"status": "complete"' -r $W --include=metrics.json | wc -l)"
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv
