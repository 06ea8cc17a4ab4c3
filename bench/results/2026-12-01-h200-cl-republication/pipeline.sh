#!/usr/bin/env bash
# The cl-benchmark republication finished and the HiP-LoRA ablation at five seeds (issue 20), on the GPUs
# this machine has (one or two H200s), started once with setsid from the repo root after the relay:
#  - cl-benchmark: the published sweep file's 30 runs (six methods x 5 seeds at tuned settings); the 20
#    LoRA, SC-LoRA, PiSSA and O-LoRA runs finished in earlier sessions are copied in and skipped,
#    HiP-LoRA's and LaLoRA's 10 run (one wave at a 0.1 share, about 7.5 min on one H200);
#  - then the ablation's sweep file at five seeds: its 42 published records and `continual`'s LoRA seeds 7
#    and 1234 (the same configs, so the same names) are copied in and skipped; HiP-LoRA's 26 new runs run.
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run /root/shared/data
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
tar -xzf /root/relay/cl.tgz -C /root/shared/data
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
N=$(nvidia-smi -L | wc -l)
stamp start commit=$HIPBENCH_GIT_COMMIT gpus=$N
nvidia-cuda-mps-control -d
ray start --head --num-gpus $N --disable-usage-stats > $W/ray-start.log 2>&1 &
RAY=$!
nvidia-smi dmon -s u -d 5 > $W/dmon.txt 2>&1 &
DMON=$!
A=leaderboards/hiplora-ablation/runs/continual/smollm2-135m
mkdir -p $W/runs $W/abl/continual/smollm2-135m/lora
for t in bench/results/2026-12-01-h200-cl-tuned/test-runs-lora-sclora.tgz bench/results/2026-12-01-h200-cl-pissa-olora/test-runs-pissa-olora.tgz; do tar -xzf $t -C $W/runs; done
cp -r $A/* $W/abl/continual/smollm2-135m/
cp -r leaderboards/runs/continual/smollm2-135m/lora/seed-7-019984ceadbf leaderboards/runs/continual/smollm2-135m/lora/seed-1234-be5615ea785c $W/abl/continual/smollm2-135m/lora/
G="defaults: {cuda_graphs: true, suite: cl-benchmark, data_dir: ../shared/data/cl_benchmark, device: cuda, seeds: [42, 100, 2024, 7, 1234], tuned: leaderboards/tuning/cl-benchmark/tuned.json}"
printf '%s\nruns:\n  - methods: [lora, pissa, olora, sclora, hiplora, lalora]\n' "$G" > $W/cl-benchmark.yaml
sed 's/seeds: \[42, 100, 2024\]/seeds: [42, 100, 2024, 7, 1234]/' leaderboards/sweeps/hiplora-ablation.yaml > $W/hiplora-ablation.yaml
python3 -c "from hipbench.models import load_model; load_model('smollm2-135m')" > $W/model-cache.log 2>&1; stamp model-cache rc=$?
wait $RAY
hipbench sweep --from-file $W/cl-benchmark.yaml --out $W/runs --executor ray --address auto --gpus-per-run 0.1 \
  --cpus-per-run 0.5 > $W/sweep-cl.log 2>&1; stamp sweep-cl rc=$?
# all 26 at once on one GPU: 0.035 of an H200 is a 5.3 GB cap each, above continual's 3.0 GB measured peak x 1.5
hipbench sweep --from-file $W/hiplora-ablation.yaml --out $W/abl --executor ray --address auto --gpus-per-run 0.035 \
  --cpus-per-run 0.5 > $W/sweep-abl.log 2>&1; stamp sweep-abl rc=$?
kill $DMON
stamp done
