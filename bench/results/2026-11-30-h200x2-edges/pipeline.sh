#!/usr/bin/env bash
# Session 12's device pipeline, started once with setsid from the repo root; later calls collect.
#  - continual and edit tunings continued past their grids' edges (the published trials copied in,
#    so only the new trials run), then the test seeds of every method whose choice moved;
#  - GRACE's sequential N = 100 runs; batch editing of 100 requests for all twelve methods;
#  - two N = all probes (LoRA, O-LoRA, seed 42), for timing only, stopped when the rest ends.
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
EDIT_ADAPTERS=hiplora,olora,sclora,lalora
sweep(){  # NAME PICK-ARGS...: the groups pick.py selects, as one sweep
  local name=$1; shift
  python3 .hb-dev/pick.py "$@" > $W/$name.yaml || { stamp $name nothing; return; }
  hipbench sweep --from-file $W/$name.yaml --out $W/runs $R > $W/sweep-$name.log 2>&1; stamp sweep-$name rc=$?
}
edges(){  # SUITE METHODS TUNE-ARGS...: continue the published grids past their edges
  local s=$1 m=$2; shift 2
  python3 .hb-dev/copy_trials.py leaderboards/runs/$s $W/tune-$s/runs/$s $m > $W/copy-$s.txt
  cp leaderboards/tuning/$s/tuned.json $W/tuned-$s-before.json
  hipbench tune --method $m --suite $s "$@" --out $W/tune-$s $R > $W/tune-$s.log 2>&1; stamp tune-$s rc=$?
  python3 .hb-dev/merge_tuned.py leaderboards/tuning/$s/tuned.json $W/tune-$s/tuned.json
  cp leaderboards/tuning/$s/tuned.json $W/tuned-$s.json
  python3 .hb-dev/moved.py $W/tuned-$s-before.json $W/tuned-$s.json > $W/moved-$s.txt
  stamp moved-$s "$(cat $W/moved-$s.txt)"
}
run_continual(){
  edges continual hiplora,olora,sclora,lalora
  local moved=$(cat $W/moved-continual.txt)
  [ -n "$moved" ] && sweep continual-moved leaderboards/sweeps/continual.yaml $moved
}
run_edit(){
  edges edit $EDIT_ADAPTERS --edit-mode sequential --num-edits 10
  local moved=$(cat $W/moved-edit.txt)
  if [ -n "$moved" ]; then
    sweep edit-10-moved leaderboards/sweeps/edit.yaml $moved num_edits=10 &
    sweep edit-100-moved leaderboards/sweeps/edit.yaml $moved num_edits=100 &
  fi
  sweep batch-hiplora leaderboards/sweeps/edit.yaml hiplora,olora,sclora num_edits=10 --set edit_mode=batch num_edits=100
  wait
}
run_batch(){  # three methods at a time, so these 45 runs leave cores to the tunings' critical path
  for m in lora,pissa,lalora rome,memit,alphaedit ft-l,ft-m,grace; do
    sweep batch-${m%%,*} leaderboards/sweeps/edit.yaml $m num_edits=10 --set edit_mode=batch num_edits=100
  done
}
run_continual & P1=$!
run_edit & P2=$!
sweep grace-100 leaderboards/sweeps/edit.yaml grace num_edits=10 --set num_edits=100 & P3=$!
run_batch & P4=$!
(hipbench sweep --method lora,olora --suite edit --edit-mode sequential --num-edits all --seeds 42 --device cuda \
   --tuned leaderboards/tuning/edit/tuned.json --out $W/probe $R > $W/probe.log 2>&1) &
wait $P1 $P2 $P3 $P4
kill $DMON
stamp done
