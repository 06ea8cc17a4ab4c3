#!/usr/bin/env bash
# Session 16, second half of the lease: the other three methods' cl-benchmark grids, queued on the same Ray
# cluster (their tasks wait for GPU shares the first tuning frees).
set -u
W=/root/w; cd /root/repo-run
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start-b
R="--executor ray --address auto --gpus-per-run ${GPUS_PER_RUN:-0.1} --cpus-per-run 0.5"
hipbench tune --method olora,lalora,sclora --suite cl-benchmark --data-dir ../shared/data/cl_benchmark \
  --cuda-graphs --device cuda --out $W/tune-cl2 $R > $W/tune-cl2.log 2>&1; stamp tune-cl2 rc=$?
