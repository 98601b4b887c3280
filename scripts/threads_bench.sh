#!/usr/bin/env bash
# The paired measurement behind docs/speed.md's threads table: training throughput (images_per_second of
# epoch 1 in log.jsonl) with torch's default threads, 1 and 2 (OMP_NUM_THREADS), without and with one
# competing busy loop per core; the settings alternate within each repetition. Prints a TSV.
#
#   bash scripts/threads_bench.sh > threads.tsv           # 3 repetitions: 18 one-epoch runs
#   REPS=1 PYTHON=/path/to/python bash scripts/threads_bench.sh
#
# The Python: $PYTHON, else the checkout's .venv/bin/python, else python3 on PATH; convolab is this
# checkout's (src/ first on PYTHONPATH). Needs Fashion-MNIST (`make data`). Runs go to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
WORK="$(mktemp -d)"
pids=()
cleanup() {
  if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

one() {  # $1 = threads setting (default or a number), $2 = load label
  rm -rf "$WORK/run"
  local cmd=("$PY" -m convolab train --dataset fashion-mnist --limit 12800 --epochs 1 --batch-size 32
             --no-figures -q --out "$WORK/run")
  if [ "$1" = default ]; then
    env -u OMP_NUM_THREADS -u MKL_NUM_THREADS "${cmd[@]}" >/dev/null
  else
    OMP_NUM_THREADS="$1" MKL_NUM_THREADS="$1" "${cmd[@]}" >/dev/null
  fi
  local ips
  ips=$(grep '"kind": "epoch"' "$WORK/run/log.jsonl" | sed 's/.*images_per_second": \([0-9.]*\).*/\1/')
  printf '%s\t%s\t%s\t%s\n' "$2" "$1" "$ips" "$(cut -d' ' -f1 /proc/loadavg)"
}

printf 'load\tthreads\timages_per_second\tloadavg_1min\n'
for _ in $(seq "${REPS:-3}"); do
  for load in none busy; do
    pids=()
    if [ "$load" = busy ]; then
      for _ in $(seq "$(nproc)"); do "$PY" -c "while True: pass" & pids+=($!); done
      sleep 2
    fi
    for s in default 1 2; do one "$s" "$load"; done
    if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}"; fi
    pids=()
  done
done
