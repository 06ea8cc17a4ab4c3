#!/usr/bin/env bash
# Session 13's device pipeline, started once with setsid from the repo root (needs the model and the
# wheels relayed): `merge` tuned on its validation split (45 trials: lora, pissa, sclora, hiplora,
# lalora; one instance per merge size, since the objective, the mean single-task validation accuracy,
# reads no instance), then its five-seed republication (.hb-dev/next/merge.yaml) at the chosen settings.
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start commit=$HIPBENCH_GIT_COMMIT
nvidia-cuda-mps-control -d
ray start --head --num-gpus 2 --disable-usage-stats > $W/ray-start.log 2>&1
nvidia-smi dmon -s u -d 5 > $W/dmon.txt 2>&1 &
DMON=$!
R="--executor ray --address auto --gpus-per-run 0.04 --cpus-per-run 0.5"
hipbench tune --method lora,pissa,sclora,hiplora,lalora --suite merge --merge-instances 1 --out $W/tune-merge $R > $W/tune-merge.log 2>&1; stamp tune-merge rc=$?
mkdir -p leaderboards/tuning/merge
python3 .hb-dev/merge_tuned.py leaderboards/tuning/merge/tuned.json $W/tune-merge/tuned.json
cp leaderboards/tuning/merge/tuned.json $W/tuned-merge.json
hipbench sweep --from-file .hb-dev/next/merge.yaml --out $W/runs $R > $W/sweep-merge.log 2>&1; stamp sweep-merge rc=$?
kill $DMON
stamp done
