#!/usr/bin/env bash
# The session's device pipeline, started once with setsid from the repo root; later calls collect.
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run
# a copy of the tree, so that the next calls' copies of the working tree cannot touch the files it writes
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start commit=$HIPBENCH_GIT_COMMIT
nvidia-cuda-mps-control -d
ray start --head --num-gpus 2 --disable-usage-stats > $W/ray-start.log 2>&1
nvidia-smi dmon -s u -d 5 > $W/dmon.txt 2>&1 &
R="--executor ray --address auto --gpus-per-run 0.05 --cpus-per-run 0.5"
mkdir -p $W/tune-continual $W/tune-edit
cp leaderboards/tuning/continual/tuned.json $W/tune-continual/
cp leaderboards/tuning/edit/tuned.json $W/tune-edit/
(hipbench tune --method hiplora,lalora --suite continual --out $W/tune-continual $R > $W/tune-continual.log 2>&1; stamp tune-continual rc=$?) &
TC=$!
(hipbench tune --method hiplora,lalora --suite edit --edit-mode sequential --num-edits 10 --out $W/tune-edit $R > $W/tune-edit.log 2>&1; stamp tune-edit rc=$?) &
TE=$!
grep -v "methods: \[hiplora, lalora\]" leaderboards/sweeps/continual.yaml > $W/continual-4.yaml
(hipbench sweep --from-file $W/continual-4.yaml --out $W/runs $R > $W/sweep-continual-4.log 2>&1; stamp sweep-continual-4 rc=$?) &
wait $TC
cp $W/tune-continual/tuned.json leaderboards/tuning/continual/tuned.json
python3 .hb-dev/ablation_lr.py leaderboards/tuning/continual/tuned.json leaderboards/sweeps/hiplora-ablation.yaml >> $W/phases.txt 2>&1
cp leaderboards/sweeps/hiplora-ablation.yaml $W/
grep -v "methods: \[lora, pissa, olora, sclora\]" leaderboards/sweeps/continual.yaml > $W/continual-2.yaml
(hipbench sweep --from-file $W/continual-2.yaml --out $W/runs $R > $W/sweep-continual-2.log 2>&1; stamp sweep-continual-2 rc=$?) &
(hipbench sweep --from-file leaderboards/sweeps/hiplora-ablation.yaml --out $W/ablation $R > $W/sweep-ablation.log 2>&1; stamp sweep-ablation rc=$?) &
wait $TE
cp $W/tune-edit/tuned.json leaderboards/tuning/edit/tuned.json
grep -v "num_edits: 100" leaderboards/sweeps/edit.yaml > $W/edit-10.yaml
(hipbench sweep --from-file $W/edit-10.yaml --out $W/runs $R > $W/sweep-edit-10.log 2>&1; stamp sweep-edit-10 rc=$?) &
wait
stamp done
