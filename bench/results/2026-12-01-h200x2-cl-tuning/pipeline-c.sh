#!/usr/bin/env bash
# Session 16, after the first tuning's PiSSA trials ran out of memory at a tenth of a GPU (13.8 GB peak
# under the 14 GB cap, with graphs) and the queued second tuning died of memory the idle Ray workers still
# held: stop everything, start Ray again, and tune the four remaining methods at an eighth of a GPU each
# into the same folder (PiSSA's two finished trials are kept; the failed ones resume).
set -u
W=/root/w; cd /root/repo-run
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
pkill -f "hipbench tune"; ray stop --force > $W/ray-stop.log 2>&1; sleep 3
stamp restart-c "$(nvidia-smi --query-gpu=memory.used --format=csv,noheader | tr '\n' ' ')"
ray start --head --num-gpus 2 --disable-usage-stats > $W/ray-start-c.log 2>&1
R="--executor ray --address auto --gpus-per-run 0.125 --cpus-per-run 0.5"
hipbench tune --method pissa,olora,sclora,lalora --suite cl-benchmark --data-dir ../shared/data/cl_benchmark \
  --cuda-graphs --device cuda --out $W/tune-cl $R > $W/tune-cl-c.log 2>&1; stamp tune-cl-c rc=$?
