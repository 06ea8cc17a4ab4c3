#!/usr/bin/env bash
# The same six runs two ways on one GPU machine, at one commit: as one `hipbench sweep --executor ray`
# and as one `hipbench run` process each, to show that the sweep adds nothing to the numbers (issue 18)
# and how long a run takes alone against sharing a GPU with ten others.
#
#   HIPBENCH_MODEL_FILE=... bash bench/run_vs_sweep.sh OUT_DIR [SEED]
#
# GPU 0 (cores 0-15): the Ray sweep of all six methods and the one-process runs of five of them, eleven
# processes at once. GPU 1 (cores 16-31): the slowest method's one-process run (HiP-LoRA), alone.
# Settings are the published records' (all-train, uniform budget), so the trees compare with them too.
# Needs two GPUs and CUDA MPS started (README, "Running many runs"). Writes OUT_DIR/sweep and
# OUT_DIR/single (records), OUT_DIR/logs/*.log, OUT_DIR/seconds.txt (each process's wall-clock),
# OUT_DIR/dmon.txt and OUT_DIR/compare.md (bench/compare_records.py, single against sweep).
set -u
[ $# -ge 1 ] || { echo "usage: bash bench/run_vs_sweep.sh OUT_DIR [SEED]" >&2; exit 2; }
OUT=$(mkdir -p "$1" && cd "$1" && pwd); SEED=${2:-42}
cd "$(dirname "$0")/.."
METHODS=(lora pissa hiplora olora lalora sclora)
COMMON=(--suite continual --seeds "$SEED" --data-split all-train --budget-rule uniform --device cuda)
mkdir -p "$OUT/logs"; : >"$OUT/seconds.txt"
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1

timed() {  # timed NAME COMMAND...: run it, append "NAME SECONDS rc=RC" to seconds.txt
    local name=$1 start end rc; shift; start=$(date +%s.%N)
    "$@" >"$OUT/logs/$name.log" 2>&1; rc=$?; end=$(date +%s.%N)
    echo "$name $(python3 -c "print(f'{$end - $start:.1f}')") rc=$rc" >>"$OUT/seconds.txt"
}

nvidia-smi dmon -s u -d 5 >"$OUT/dmon.txt" 2>&1 & DMON=$!
timed sweep env CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 hipbench sweep --method "$(IFS=,; echo "${METHODS[*]}")" \
    "${COMMON[@]}" --executor ray --cpus-per-run 0.5 --out "$OUT/sweep" & PIDS=($!)
for m in "${METHODS[@]}"; do
    if [ "$m" = hiplora ]; then gpu=1 cores=16-31; else gpu=0 cores=0-15; fi
    timed "run-$m" env CUDA_VISIBLE_DEVICES=$gpu OMP_NUM_THREADS=1 taskset -c "$cores" \
        hipbench run --method "$m" "${COMMON[@]}" --out "$OUT/single" & PIDS+=($!)
done
wait "${PIDS[@]}"
kill "$DMON" 2>/dev/null
python3 bench/compare_records.py "$OUT/single/continual/smollm2-135m" "$OUT/sweep/continual/smollm2-135m" >"$OUT/compare.md"
cat "$OUT/seconds.txt" "$OUT/compare.md"
