#!/usr/bin/env bash
# Reproduce the published editing and merging records: every method, three seeds, on one GPU.
# Usage: leaderboards/reproduce-protocols.sh OUT_DIR [METHODS] [SEEDS] [PARALLEL]
#   edit:  sequential mode at N = 10 and N = 100 (built-in `edit` suite, protocol defaults)
#   merge: single-task adapters of the `continual` suite, MergeFail by task arithmetic, then TIES
#          (the second rule reuses the cached adapters, so the two run one after the other)
# Jobs run as separate processes, PARALLEL at a time (default 16), longest first: the 135M model
# leaves a GPU mostly idle, and no run's numbers depend on its neighbours. Complete records are
# skipped, so an interrupted sweep is finished by running this again. Model: HIPBENCH_MODEL_FILE or
# the cache.
set -uo pipefail
out=${1:?usage: reproduce-protocols.sh OUT_DIR [METHODS] [SEEDS] [PARALLEL]}
methods=${2:-lora,pissa,hiplora,olora,lalora,sclora}
seeds=${3:-42,100,2024}
parallel=${4:-16}
export TQDM_DISABLE=1 OMP_NUM_THREADS=1
jobs=()
for method in ${methods//,/ }; do
  for seed in ${seeds//,/ }; do
    common="--method $method --seeds $seed --device cuda --out $out/runs"
    jobs+=("merge-$method-$seed|python3 -m hipbench run $common --suite merge --merge-rule sum && python3 -m hipbench run $common --suite merge --merge-rule ties")
    jobs+=("edit100-$method-$seed|python3 -m hipbench run $common --suite edit --edit-mode sequential --num-edits 100")
  done
done
for method in ${methods//,/ }; do
  for seed in ${seeds//,/ }; do
    jobs+=("edit10-$method-$seed|python3 -m hipbench run --method $method --seeds $seed --device cuda --out $out/runs --suite edit --edit-mode sequential --num-edits 10")
  done
done
printf '%s\n' "${jobs[@]}" | bash "$(dirname "$0")/run-jobs.sh" "$out" "$parallel"
