#!/bin/bash
# Paired measurement: train throughput (images_per_second of epoch 1 from log.jsonl) at
# default / 1 / 2 threads, without and with a competing busy loop per core; settings alternate.
export PYTHONPATH=/work/h-cli/src MPLBACKEND=Agg
out=/work/h-cli-notes/threads.tsv; : > $out
one() {  # $1 = setting label, $2 = load label
  rm -rf /tmp/hcli-thr/run
  if [ "$1" = default ]; then env -u OMP_NUM_THREADS -u MKL_NUM_THREADS /work/main/.venv/bin/convolab train --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist --limit 12800 --epochs 1 --batch-size 32 --no-figures -q --out /tmp/hcli-thr/run >/dev/null 2>&1
  else OMP_NUM_THREADS=$1 MKL_NUM_THREADS=$1 /work/main/.venv/bin/convolab train --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist --limit 12800 --epochs 1 --batch-size 32 --no-figures -q --out /tmp/hcli-thr/run >/dev/null 2>&1; fi
  ips=$(grep '"kind": "epoch"' /tmp/hcli-thr/run/log.jsonl | sed 's/.*images_per_second": \([0-9.]*\).*/\1/')
  echo -e "$2\t$1\t$ips\t$(cut -d' ' -f1 /proc/loadavg)" >> $out
}
for rep in 1 2 3; do
  for load in none busy; do
    pids=()
    if [ $load = busy ]; then for c in 1 2; do python3 -c "while True: pass" & pids+=($!); done; sleep 2; fi
    for s in default 1 2; do one $s $load; done
    for p in "${pids[@]}"; do kill $p; done
  done
done
echo done >> $out
