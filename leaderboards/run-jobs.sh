#!/usr/bin/env bash
# The job runner behind reproduce.sh and reproduce-protocols.sh: reads "NAME|COMMAND" lines on
# stdin, runs them PARALLEL at a time (0 = all at once), each logging to OUT_DIR/logs/NAME.log and
# reported as "FAILED NAME" when it fails, then builds the leaderboards of OUT_DIR/runs. Exits 1 when
# any job or the leaderboard failed; the other jobs still run.
# Usage: ... | leaderboards/run-jobs.sh OUT_DIR PARALLEL
set -uo pipefail
out=${1:?usage: run-jobs.sh OUT_DIR PARALLEL}
parallel=${2:?usage: run-jobs.sh OUT_DIR PARALLEL}
mkdir -p "$out/logs"
status=0
xargs -d '\n' -P "$parallel" -n 1 bash -c \
  'name=${1%%|*}; bash -c "${1#*|}" >"$0/logs/$name.log" 2>&1 || { echo "FAILED $name"; exit 1; }' "$out" \
  || status=1
python3 -m hipbench leaderboard "$out/runs" --out "$out/leaderboards" || status=1
exit $status
