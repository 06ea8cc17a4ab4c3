#!/usr/bin/env bash
# Session 14's second lease (two H200s), after the first capture failed (fixed in the commit below):
#  GPU 1 (cores 16-31): merge tuning resumed from its 52 complete trials (trials2.tgz): LaLoRA's lr 1.25e-2;
#  GPU 0 (cores 0-15): the CUDA-graph check, then (if it passed) issue 18's 18-run continual sweep with
#    --cuda-graphs on GPU 0 alone (eager reference 373.5 s); when the tuning is done, the same sweep on
#    both GPUs (eager reference 394.8 s). If the check failed: the merge republication, eager.
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
tar -xzf .hb-dev/merge-tuning/trials2.tgz -C $W
( CUDA_VISIBLE_DEVICES=1 taskset -c 16-31 hipbench tune --method lora,pissa,sclora,hiplora,lalora --suite merge \
    --merge-instances 1 --device cuda --out $W/tune-merge > $W/tune-merge.log 2>&1; stamp tune-merge rc=$? ) &
TUNE=$!
CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 python3 bench/train_step.py --model smollm2-135m --data continual --graphs \
  --methods lora,pissa,olora,sclora,lalora,hiplora --steps 60 --warmup 10 --json $W/graphs-check.json > $W/graphs-check.txt 2>&1
G=$?; stamp graphs-check rc=$G
S="hipbench sweep --method lora,pissa,hiplora,olora,lalora,sclora --suite continual --seeds 42,100,2024 --executor ray --cpus-per-run 0.5 --cuda-graphs"
if [ $G -eq 0 ]; then
  CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 $S --out $W/s18-1gpu > $W/sweep18-1gpu.log 2>&1; stamp sweep18-1gpu rc=$?
  wait $TUNE; stamp tune-waited
  $S --out $W/s18-2gpu > $W/sweep18-2gpu.log 2>&1; stamp sweep18-2gpu rc=$?
else
  wait $TUNE; stamp tune-waited
  mkdir -p leaderboards/tuning/merge
  python3 .hb-dev/merge_tuned.py leaderboards/tuning/merge/tuned.json $W/tune-merge/tuned.json
  cp leaderboards/tuning/merge/tuned.json $W/tuned-merge.json
  cp .hb-dev/next/merge.yaml $W/merge.yaml
  R="--executor ray --gpus-per-run 0.04 --cpus-per-run 0.5"
  hipbench sweep --from-file $W/merge.yaml --out $W/runs $R > $W/sweep-merge.log 2>&1; stamp sweep-merge rc=$?
fi
kill $DMON
stamp done
