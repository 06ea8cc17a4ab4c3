#!/usr/bin/env bash
# Session 16's device pipeline (two H200s), started once with setsid from the repo root after the relay:
#  1. issue 20: `cl-benchmark` tuned on its validation split (variant-5 read from ../shared/data/cl_benchmark,
#     relayed to /root/shared/data), the grids of $TUNE_METHODS at once through Ray on both GPUs, CUDA graphs;
#     trials that finish before the lease ends come back as records, the rest run again next session;
#  2. issue 18: beside it on GPU 0, one process (no Ray) re-runs HiP-LoRA `continual` seed 42 (after the
#     one-thread fix, ec7c1d8/81c12f9) and ROME, MEMIT, AlphaEdit sequential N = 10 seed 42, to compare with
#     the Ray records.
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run /root/shared/data
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
tar -xzf /root/relay/cl.tgz -C /root/shared/data
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start commit=$HIPBENCH_GIT_COMMIT
nvidia-cuda-mps-control -d
ray start --head --num-gpus 2 --disable-usage-stats > $W/ray-start.log 2>&1 &
RAY=$!
nvidia-smi dmon -s u -d 5 > $W/dmon.txt 2>&1 &
DMON=$!
python3 -c "from hipbench.models import load_model; load_model('smollm2-135m')" > $W/model-cache.log 2>&1; stamp model-cache rc=$?
# the pretrained SVDs PiSSA and HiP-LoRA read, computed once here rather than by every trial at once
hipbench run --method pissa,hiplora --suite cl-benchmark --data-dir ../shared/data/cl_benchmark --seeds 1 --steps 2 \
  --limit 8 --device cuda --out $W/smoke > $W/smoke.log 2>&1; stamp smoke rc=$?
wait $RAY
(CUDA_VISIBLE_DEVICES=0 taskset -c 0-5 hipbench run --method hiplora --suite continual --seeds 42 --device cuda \
   --cuda-graphs --out $W/hip-local > $W/hip-local.log 2>&1; stamp hip-local rc=$?
 CUDA_VISIBLE_DEVICES=0 taskset -c 0-5 hipbench run --method rome,memit,alphaedit --suite edit --edit-mode sequential \
   --num-edits 10 --seeds 42 --device cuda --tuned leaderboards/tuning/edit/tuned.json --out $W/edit-local \
   > $W/edit-local.log 2>&1; stamp edit-local rc=$?) &
R="--executor ray --address auto --gpus-per-run ${GPUS_PER_RUN:-0.1} --cpus-per-run 0.5"
hipbench tune --method ${TUNE_METHODS:-lora,hiplora,pissa} --suite cl-benchmark --data-dir ../shared/data/cl_benchmark \
  --cuda-graphs --device cuda --out $W/tune-cl $R > $W/tune-cl.log 2>&1; stamp tune-cl rc=$?
wait
kill $DMON
stamp done
