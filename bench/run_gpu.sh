#!/usr/bin/env bash
# Run the three benches of issue 8 on one GPU, each bounded in time, and collect their output.
#
#   HIPBENCH_MODEL_FILE=/path/SmolLM2-135M-Instruct.Q4_1.gguf bash bench/run_gpu.sh OUT_DIR
#   bash bench/run_gpu.sh OUT_DIR --cpu-smoke     # the same steps on the CPU with tiny models (~1 min)
#
# Writes OUT_DIR/<bench>.json (written after every phase, so a bench stopped by its time limit
# still leaves what it measured), OUT_DIR/<bench>.txt (its console output), OUT_DIR/environment.txt
# and OUT_DIR/summary.txt (status, exit code and seconds per bench). A failing or timed-out bench
# is recorded and the next one runs; the script exits 1 if any failed. The per-bench limits (seconds;
# override with SVD_LIMIT, EVAL_LIMIT, SMALL_LIMIT, LARGE_LIMIT) add up to about 17 minutes; on an
# H100 (2026-11-24) the benches took 50 s (SVD), about 170 s (eval), about 200 s (SmolLM2 training,
# 6 methods) and 59 s (8B shape), of which loading the SmolLM2 GGUF is 36-45 s each time.
# BENCHES="train_small train_large" runs only the named benches (default: all four).
set -u

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: bash bench/run_gpu.sh OUT_DIR [--cpu-smoke]" >&2
    exit 2
fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
MODE=${2:-gpu}
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1
# hipbench.methods and hipbench.tasks are mapped folders: the benches need this tree installed
# (pip install -e . --no-deps), not another copy's hipbench
IMPORTED=$("$PY" -P -c 'import os, hipbench.fast_svd, hipbench.tasks as t
print(*(os.path.dirname(os.path.abspath(m.__file__)) for m in (hipbench, t)))' 2>&1)
if [ "$IMPORTED" != "$PWD/hipbench $PWD/tasks" ]; then
    echo "hipbench is not imported from this tree ($PWD) but: $IMPORTED" >&2
    echo "install it here first: $PY -m pip install -e . --no-deps" >&2
    exit 2
fi

if [ "$MODE" = "--cpu-smoke" ]; then
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    SVD_ARGS="--shape llama-mini-shape --device cpu"
    EVAL_ARGS="--model tiny-llama --device cpu --limit 4"
    SMALL_ARGS="--model tiny-llama --device cpu --steps 2 --warmup 1 --batch 2 --words 40 --fast"
    LARGE_ARGS="--model llama-mini-shape --device cpu --methods lora,hiplora --steps 2 --warmup 1 --batch 2 --words 40 --fast"
elif [ "$MODE" = "gpu" ]; then
    if [ -z "${HIPBENCH_MODEL_FILE:-}" ]; then
        echo "warning: HIPBENCH_MODEL_FILE is not set; without a network the SmolLM2 benches will fail" >&2
    fi
    SVD_ARGS="--shape llama8b-shape --device cuda --exact-sample 1 --load-sample 2"
    EVAL_ARGS="--model smollm2-135m --device cuda --limit 40"
    SMALL_ARGS="--model smollm2-135m --device cuda --methods lora,pissa,hiplora,hiplora-step,olora,lalora,sclora --steps 20 --warmup 3 --fast --rounds 3"
    # SC-LoRA's covariances are m × m per layer (14336² for gate/up) and PiSSA's SVD is a second 224-matrix
    # build: left out at 8B to stay in time; add them with --methods.
    LARGE_ARGS="--model llama8b-shape --device cuda --methods lora,hiplora,hiplora-step --steps 10 --warmup 3 --fast"
else
    echo "unknown mode $MODE (expected --cpu-smoke or nothing)" >&2
    exit 2
fi

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "mode: $MODE"
    echo "commit: ${HIPBENCH_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"  # a device copy may carry a stale .git
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$PY" -c 'import platform, torch, transformers, peft
print("python", platform.python_version(), "| torch", torch.__version__, "cuda", torch.version.cuda,
      "| transformers", transformers.__version__, "| peft", peft.__version__)
print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu only")'
} > "$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"
: > "$OUT/summary.txt"
FAILED=0

BENCHES=${BENCHES:-svd_cache eval train_small train_large}
run() {  # run NAME LIMIT_S SCRIPT ARGS...
    local name=$1 limit=$2 script=$3
    shift 3
    case " $BENCHES " in *" $name "*) ;; *) echo "   $name: not selected (BENCHES)" >> "$OUT/summary.txt"; return ;; esac
    echo "== $name (limit ${limit}s): $script $*" | tee -a "$OUT/summary.txt"
    local start=$SECONDS status
    timeout --kill-after=10 "$limit" "$PY" "bench/$script" "$@" --json "$OUT/$name.json" > "$OUT/$name.txt" 2>&1
    local rc=$?
    case $rc in
        0) status=ok ;;
        124|137) status="TIMED OUT after ${limit}s"; FAILED=1 ;;
        *) status="FAILED (exit $rc)"; FAILED=1 ;;
    esac
    grep -v -e "Warning" -e "warnings.warn" "$OUT/$name.txt" | tail -n 25
    echo "   $name: $status, $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
}

# shellcheck disable=SC2086  # the argument strings are meant to split
run svd_cache "${SVD_LIMIT:-130}" svd_cache.py $SVD_ARGS
# shellcheck disable=SC2086
run eval "${EVAL_LIMIT:-230}" eval.py $EVAL_ARGS
# shellcheck disable=SC2086
run train_small "${SMALL_LIMIT:-480}" train_step.py $SMALL_ARGS
# shellcheck disable=SC2086
run train_large "${LARGE_LIMIT:-200}" train_step.py $LARGE_ARGS

echo "total $SECONDS s; outputs in $OUT" | tee -a "$OUT/summary.txt"
exit $FAILED
