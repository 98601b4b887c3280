#!/usr/bin/env bash
# The paired measurement behind docs/speed.md's threads table: training throughput (images_per_second of
# epoch 1 in log.jsonl) with convolab's default threads, 1 and 2 (OMP_NUM_THREADS) in three states: "none"
# (no added load), "after" (right after a job ended: one busy loop per core ran for $AFTER_S seconds,
# default 20, and was killed just before the run) and "busy" (one competing busy loop per core during the
# run); the settings alternate within each repetition. Prints a TSV; the last column is the 1-minute load
# average at the run's end, and the run's log records the threads the default chose.
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
  local used
  used=$(grep '"kind": "start"' "$WORK/run/log.jsonl" | sed 's/.*"threads": \([0-9]*\).*/\1/')
  printf '%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$used" "$ips" "$(cut -d' ' -f1 /proc/loadavg)"
}

printf 'load\tthreads\tthreads_used\timages_per_second\tloadavg_1min\n'
spin() {  # one busy-loop process per core, in the background (their pids in $pids)
  for _ in $(seq "$(nproc)"); do "$PY" -c "while True: pass" & pids+=($!); done
}
for _ in $(seq "${REPS:-3}"); do
  for load in none after busy; do
    for s in default 1 2; do
      pids=()
      if [ "$load" = after ]; then  # a job that just ended: the 1-minute load average still counts it
        spin; sleep "${AFTER_S:-20}"; kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; pids=()
      elif [ "$load" = busy ]; then
        spin; sleep 2
      fi
      one "$s" "$load"
      if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; fi
      pids=()
    done
  done
done
