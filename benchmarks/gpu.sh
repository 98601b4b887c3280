#!/usr/bin/env bash
# The GPU benchmark, end to end, in under 5 minutes on one GPU: finds a Python whose torch sees CUDA,
# prints the GPU, trains the lecture's first autoencoder (plain PyTorch, convolab fp32, bf16, bf16 +
# CUDA graphs; data resident on the GPU), writes the "cuda" section of BENCHMARKS.md and prints the table.
#
#   bash benchmarks/gpu.sh                 # 5 epochs each on 60,000 Fashion-MNIST images
#   bash benchmarks/gpu.sh --epochs 10     # extra arguments go to train_speed.py
#   OUT=/some/dir bash benchmarks/gpu.sh   # also copy the markdown and the printed table there
#   PYTHON=/path/to/python bash benchmarks/gpu.sh   # that Python (else .venv/bin/python, then PATH's)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=""
for cand in "${PYTHON:-}" .venv/bin/python python3 python; do
  [ -n "$cand" ] || continue
  command -v "$cand" >/dev/null 2>&1 || continue
  if "$cand" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    PY="$cand"; break
  fi
done
if [ -z "$PY" ]; then
  echo "error: no Python with a CUDA-enabled torch found (set PYTHON=/path/to/python)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())'

# convolab from this checkout, without touching the environment's packages
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
DATA="${FASHION_DIR:-/usr/share/datasets/fashion-mnist}"
if [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "note: Fashion-MNIST not found at $DATA; using synthetic images (timings still valid)" >&2
  DATA=synthetic
fi
MD="${BENCH_MD:-BENCHMARKS.md}"
LOG="$(mktemp)"  # the printed table, for OUT
trap 'rm -f "$LOG"' EXIT
timeout 290 "$PY" benchmarks/train_speed.py --device cuda --only torch,convolab --data-dir "$DATA" \
  --epochs 5 --ttq-batch 1024 --ttq-lr 4e-3 --ttq-max-epochs 10 --profile-steps 0 --out "$MD" "$@" \
  | tee "$LOG"
if [ -n "${OUT:-}" ]; then cp "$MD" "$OUT"/ && cp "$LOG" "$OUT"/convolab-gpu-bench.txt; fi
