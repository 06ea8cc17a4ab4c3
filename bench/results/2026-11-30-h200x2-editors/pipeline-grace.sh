#!/usr/bin/env bash
# Session 11's second device pipeline: GRACE again after its fix (b91f294): tuning, then N = 10 and 100.
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start commit=$HIPBENCH_GIT_COMMIT
nvidia-cuda-mps-control -d
ray start --head --num-gpus 2 --disable-usage-stats > $W/ray-start.log 2>&1
R="--executor ray --address auto --gpus-per-run 0.05 --cpus-per-run 0.5"
hipbench tune --method grace --suite edit --edit-mode sequential --num-edits 10 --space layers=2,5,8,11,14,17,20,24,28 \
  --out $W/tune-grace $R > $W/tune-grace.log 2>&1; stamp tune-grace rc=$?
python3 .hb-dev/merge_tuned.py leaderboards/tuning/edit/tuned.json $W/tune-grace/tuned.json
for n in 10 100; do
  python3 .hb-dev/part.py leaderboards/sweeps/edit.yaml $n grace > $W/edit-$n-grace.yaml
  (hipbench sweep --from-file $W/edit-$n-grace.yaml --out $W/runs $R > $W/sweep-edit-$n-grace.log 2>&1; stamp sweep-edit-$n-grace rc=$?) &
done
wait
stamp done
