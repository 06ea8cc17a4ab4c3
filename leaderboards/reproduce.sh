#!/usr/bin/env bash
# Reproduce the published continual-learning records: every method, three seeds, full length, on one GPU.
# Usage: leaderboards/reproduce.sh OUT_DIR [METHODS] [SEEDS] [SUITE] [DATA_DIR] [PARALLEL]
#   SUITE: continual (default, built in) or cl-benchmark (needs DATA_DIR, e.g. ../shared/data/cl_benchmark)
# Each (method, seed) runs as its own process, PARALLEL at a time (default: all at once): the 135M
# model leaves a GPU mostly idle, so parallel processes finish several times sooner, and no run's
# numbers depend on its neighbours. Memory bounds PARALLEL: a `continual` process peaks near 2 GB of
# GPU memory, a `cl-benchmark` one near 7 GB (prompts of up to 600 characters), so on an 80 GB GPU
# run at most about 10 cl-benchmark processes beside nothing else (an H100 hit out-of-memory at 10
# beside 8 editing/merging processes). Complete records are skipped and incomplete ones resume at their
# last task boundary, so an interrupted sweep is finished by running this again.
# Model: HIPBENCH_MODEL_FILE or the cache.
set -uo pipefail
out=${1:?usage: reproduce.sh OUT_DIR [METHODS] [SEEDS] [SUITE] [DATA_DIR] [PARALLEL]}
methods=${2:-lora,pissa,hiplora,olora,lalora,sclora}
seeds=${3:-42,100,2024}
suite=${4:-continual}
data_dir=${5:-}
parallel=${6:-0}  # xargs: 0 = as many as there are jobs
export TQDM_DISABLE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
data_arg=${data_dir:+--data-dir $data_dir}
jobs=()
for method in ${methods//,/ }; do
  for seed in ${seeds//,/ }; do
    jobs+=("$suite-$method-$seed|python3 -m hipbench run --method $method --seeds $seed --suite $suite $data_arg --device cuda --out $out/runs")
  done
done
printf '%s\n' "${jobs[@]}" | bash "$(dirname "$0")/run-jobs.sh" "$out" "$parallel"
