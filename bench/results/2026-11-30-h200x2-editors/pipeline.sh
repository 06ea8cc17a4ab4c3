#!/usr/bin/env bash
# Session 11's device pipeline, started once with setsid from the repo root; later calls collect.
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
R="--executor ray --address auto --gpus-per-run 0.05 --cpus-per-run 0.5"
E="--suite edit --edit-mode sequential --num-edits 10"
# the adapter methods' N = 100 runs need nothing new: start them at once
python3 .hb-dev/part.py leaderboards/sweeps/edit.yaml 100 lora,pissa,olora,sclora,hiplora,lalora > $W/edit-100-adapters.yaml
(hipbench sweep --from-file $W/edit-100-adapters.yaml --out $W/runs $R > $W/sweep-edit-100-adapters.log 2>&1; stamp sweep-edit-100-adapters rc=$?) &
P1=$!
# each editor family: its layer tuning on validation edits, then its test runs at N = 10 and 100
editor(){  # NAME METHODS SPACE
  hipbench tune --method $2 $E --space "$3" --out $W/tune-$1 $R > $W/tune-$1.log 2>&1; stamp tune-$1 rc=$?
  flock $W/tuned.lock python3 .hb-dev/merge_tuned.py leaderboards/tuning/edit/tuned.json $W/tune-$1/tuned.json
  for n in 10 100; do python3 .hb-dev/part.py leaderboards/sweeps/edit.yaml $n $2 > $W/edit-$n-$1.yaml; done
  for n in 10 100; do
    (hipbench sweep --from-file $W/edit-$n-$1.yaml --out $W/runs $R > $W/sweep-edit-$n-$1.log 2>&1; stamp sweep-edit-$n-$1 rc=$?) &
  done
  wait
}
editor rome rome layers=0,1,2,3,5,7,9,11,13 & P2=$!
editor memit memit,alphaedit layers=0-4,1-5,2-6,3-7,4-8,6-10,8-12,10-14,14-18 & P3=$!
editor grace grace layers=2,5,8,11,14,17,20,24,28 & P4=$!
editor ft ft-l,ft-m layers=0,2,4,6,9,12,16,20,25 & P5=$!
wait $P1 $P2 $P3 $P4 $P5
cp leaderboards/tuning/edit/tuned.json $W/tuned-edit.json
kill $DMON
stamp done
