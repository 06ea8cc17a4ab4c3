#!/usr/bin/env bash
# Reproduce the published continual-suite records: every method, three seeds, full length, on one GPU.
# Usage: leaderboards/reproduce.sh OUT_DIR [METHODS] [SEEDS]   (model: HIPBENCH_MODEL_FILE or the cache)
# Each (method, seed) runs as its own process: the 135M model leaves a GPU mostly idle, so parallel
# processes finish several times sooner, and no run's numbers depend on its neighbours. Complete
# records are skipped, so an interrupted sweep is finished by running this again.
set -uo pipefail
out=${1:?usage: reproduce.sh OUT_DIR [METHODS] [SEEDS]}
methods=${2:-lora,pissa,hiplora,olora,lalora,sclora}
seeds=${3:-42,100,2024}
mkdir -p "$out/logs"
export TQDM_DISABLE=1 OMP_NUM_THREADS=2
pids=()
for method in ${methods//,/ }; do
  for seed in ${seeds//,/ }; do
    python3 -m hipbench run --method "$method" --seeds "$seed" --suite continual --device cuda --out "$out/runs" \
      >"$out/logs/$method-$seed.log" 2>&1 &
    pids+=($!)
  done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
python3 -m hipbench leaderboard "$out/runs" --out "$out/leaderboards" || status=1
exit $status
