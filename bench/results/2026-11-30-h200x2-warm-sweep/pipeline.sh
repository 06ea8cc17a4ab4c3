#!/usr/bin/env bash
# Session 15's device pipeline (two H200s), started once with setsid from the repo root after the relay:
#  1. issue 18's 18-run continual sweep with --cuda-graphs, SVD cache warmed first by a 2-run smoke sweep,
#     records with evaluation_*_seconds and diagnostics_seconds: GPU 0 alone (cores 0-15), then both GPUs;
#  2. the merge republication at the published tuning (five seeds, both rules, graphs) on both GPUs, and beside
#     it on GPU 1 the single-process comparison: `hipbench run` of seed 42 for the six methods, same configs;
#  3. issue 21's cost question: sequential edit N = all of LaLoRA (GPU 0) and O-LoRA (GPU 1), seed 42, each
#     alone on its GPU, until the lease ends (their measurement rows say how many edits took how long).
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start commit=$HIPBENCH_GIT_COMMIT
nvidia-cuda-mps-control -d
nvidia-smi dmon -s u -d 5 > $W/dmon.txt 2>&1 &
DMON=$!
python3 -c "from hipbench.models import load_model; load_model('smollm2-135m')" > $W/model-cache.log 2>&1; stamp model-cache rc=$?
M=lora,pissa,hiplora,olora,lalora,sclora
S="hipbench sweep --method $M --suite continual --seeds 42,100,2024 --executor ray --cpus-per-run 0.5 --cuda-graphs"
hipbench sweep --method pissa,hiplora --suite continual --seeds 1 --steps 2 --limit 8 --executor ray --cpus-per-run 0.5 --out $W/smoke > $W/smoke.log 2>&1; stamp smoke rc=$?
CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 $S --out $W/s18-1gpu > $W/sweep18-1gpu.log 2>&1; stamp sweep18-1gpu rc=$?
$S --out $W/s18-2gpu > $W/sweep18-2gpu.log 2>&1; stamp sweep18-2gpu rc=$?
cp .hb-dev/next/merge.yaml $W/merge.yaml
CUDA_VISIBLE_DEVICES=1 taskset -c 24-31 hipbench run --method $M --suite continual --seeds 42 --device cuda --cuda-graphs --out $W/s18-local > $W/run18-local.log 2>&1 &
LOCAL=$!
hipbench sweep --from-file $W/merge.yaml --out $W/runs --executor ray --gpus-per-run 0.04 --cpus-per-run 0.5 > $W/sweep-merge.log 2>&1; stamp sweep-merge rc=$?
wait $LOCAL; stamp run18-local rc=$?
E="hipbench run --suite edit --edit-mode sequential --num-edits all --seeds 42 --device cuda --cuda-graphs --tuned leaderboards/tuning/edit/tuned.json --out $W/edit-all"
CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 $E --method lalora > $W/edit-all-lalora.log 2>&1 &
CUDA_VISIBLE_DEVICES=1 taskset -c 16-31 $E --method olora > $W/edit-all-olora.log 2>&1 &
wait; stamp edit-all
kill $DMON
stamp done
