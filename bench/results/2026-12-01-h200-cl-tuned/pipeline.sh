#!/usr/bin/env bash
# Session 17's device pipeline (one H200; two were not lent), started once with setsid from the repo root
# after the relay. Issue 20, cl-benchmark finished and republished:
#  - the 40 complete tuning trials of session 16 copied in (same grid order, so same trial numbers);
#  - LoRA's and SC-LoRA's grids are complete with interior bests: their choice needs no run, and their
#    10 test runs (5 seeds) start through Ray as soon as the model cache is there;
#  - PiSSA, O-LoRA, HiP-LoRA, LaLoRA tuned on through Ray (open grid trials, then edges), their choices
#    merged into tuned.json, then their 20 test runs.
# Whatever is complete when the lease ends comes back as records; the rest resumes next session.
set -u
W=/root/w; mkdir -p $W /tmp/mps /tmp/mpslog /root/repo-run /root/shared/data
tar --exclude=./.hb-relay --exclude=./.git -cf - . | tar -x -C /root/repo-run && cd /root/repo-run
tar -xzf /root/relay/cl.tgz -C /root/shared/data
export HIPBENCH_MODEL_FILE=/root/relay/SmolLM2-135M-Instruct.Q4_1.gguf TQDM_DISABLE=1 PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog HIPBENCH_GIT_COMMIT=$(cat .hb-dev/commit)
stamp(){ echo "$(date +%s) $(date -u +%H:%M:%S) $*" >> $W/phases.txt; }
stamp start commit=$HIPBENCH_GIT_COMMIT
nvidia-cuda-mps-control -d
ray start --head --num-gpus 1 --disable-usage-stats > $W/ray-start.log 2>&1 &
RAY=$!
nvidia-smi dmon -s u -d 5 > $W/dmon.txt 2>&1 &
DMON=$!
T=bench/results/2026-12-01-h200x2-cl-tuning/complete-trials.tgz
D="--suite cl-benchmark --data-dir ../shared/data/cl_benchmark --cuda-graphs --device cuda"
R="--executor ray --address auto --gpus-per-run 0.1 --cpus-per-run 0.5"
mkdir -p $W/tune-cl $W/tune-final && tar -xzf $T -C $W/tune-cl && tar -xzf $T -C $W/tune-final
python3 -c "from hipbench.models import load_model; load_model('smollm2-135m')" > $W/model-cache.log 2>&1; stamp model-cache rc=$?
wait $RAY
hipbench tune --method lora,sclora $D --out $W/tune-final --executor local > $W/tune-final.log 2>&1; stamp tune-final rc=$?
mkdir -p leaderboards/tuning/cl-benchmark && cp $W/tune-final/tuned.json leaderboards/tuning/cl-benchmark/tuned.json
G="defaults: {cuda_graphs: true, suite: cl-benchmark, data_dir: ../shared/data/cl_benchmark, device: cuda, seeds: [42, 100, 2024, 7, 1234], tuned: leaderboards/tuning/cl-benchmark/tuned.json}"
printf '%s\nruns:\n  - methods: [lora, sclora]\n' "$G" > $W/cl-first.yaml
printf '%s\nruns:\n  - methods: [pissa, olora, hiplora, lalora]\n' "$G" > $W/cl-rest.yaml
hipbench sweep --from-file $W/cl-first.yaml --out $W/runs $R > $W/sweep-first.log 2>&1 &
FIRST=$!
# the pretrained SVDs PiSSA and HiP-LoRA read, computed once here (beside the first runs) rather than by every trial
hipbench run --method pissa,hiplora $D --seeds 1 --steps 2 --limit 8 --out $W/smoke > $W/smoke.log 2>&1; stamp smoke rc=$?
hipbench tune --method pissa,olora,hiplora,lalora $D --out $W/tune-cl $R > $W/tune-cl.log 2>&1; TR=$?; stamp tune-cl rc=$TR
if [ $TR = 0 ]; then
  python3 -c "
import sys; from pathlib import Path; from hipbench.tuning import read_tuned, write_tuned
write_tuned(Path(sys.argv[1]), read_tuned(Path(sys.argv[2])))" leaderboards/tuning/cl-benchmark/tuned.json $W/tune-cl/tuned.json
  cp leaderboards/tuning/cl-benchmark/tuned.json $W/tuned-cl-benchmark.json
  hipbench sweep --from-file $W/cl-rest.yaml --out $W/runs $R > $W/sweep-rest.log 2>&1; stamp sweep-rest rc=$?
fi
wait $FIRST; stamp sweep-first rc=$?
kill $DMON
stamp done
