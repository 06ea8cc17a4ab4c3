#!/usr/bin/env bash
# Session 16, the lease's last minutes on one H200: PiSSA's five cl-benchmark grid trials that ran out of memory
# in reused Ray workers, now each in a process of its own (max_calls=1), resumed beside the 40 finished trial
# records (bench/results/2026-12-01-h200x2-cl-tuning/complete-trials.tgz) so that only they run.
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run /root/shared/data
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
tar -xzf /root/relay/cl.tgz -C /root/shared/data
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start commit=$HIPBENCH_GIT_COMMIT
nvidia-cuda-mps-control -d
nvidia-smi dmon -s u -d 5 > $W/dmon.txt 2>&1 &
DMON=$!
mkdir -p $W/tune-cl && tar -xzf bench/results/2026-12-01-h200x2-cl-tuning/complete-trials.tgz -C $W/tune-cl
python3 -c "from hipbench.models import load_model; load_model('smollm2-135m')" > $W/model-cache.log 2>&1; stamp model-cache rc=$?
hipbench tune --method pissa --suite cl-benchmark --data-dir ../shared/data/cl_benchmark --cuda-graphs --device cuda \
  --out $W/tune-cl --executor ray --gpus-per-run 0.15 --cpus-per-run 2 > $W/tune-pissa.log 2>&1; stamp tune-pissa rc=$?
kill $DMON
stamp done
