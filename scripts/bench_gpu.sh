#!/usr/bin/env bash
# The GPU benchmark a session with a lent GPU runs as it is (issue 21), in under 8 minutes on one H100/A100:
#   1. SAM vit_h encoder images/s and peak memory at fp32 / tf32 / bf16 / bf16+SDPA / bf16+SDPA+compile, each
#      against fp32 in the same call; decoder ms per image; host-device syncs per image (scripts/bench_gpu.py)
#   2. the serial CPU work per image at 1024 px with 16 regions (scripts/bench_cpu_stages.py)
#   3. the whole prelabel pipeline's images/s against the encoder alone, fp32 and bf16+SDPA
#      (scripts/bench_prelabel.py, vit_h-shaped random weights, 1024 px images)
# Usage: bash scripts/bench_gpu.sh [OUT_FILE]     (PYTHON=... to choose the interpreter; default .venv/bin/python)
# Needs torch (CUDA build), torchvision and segment-anything importable by that interpreter: the device machine
# reaches no package index, so the environment must already be there. Copy the printed tables into docs/testing.md
# with the card's name (the first line).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
OUT="${1:-bench-gpu.txt}"
if ! "$PY" -c "import torch, torchvision, segment_anything; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "bench_gpu.sh: $PY cannot import torch + torchvision + segment_anything with CUDA; set PYTHON to an" \
       "interpreter that can (the project's venv: bash scripts/_venv.sh on a machine with a package index)" >&2
  exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
  echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  "$PY" -c "import torch; print('card:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
  echo "== 1. encoder, decoder, syncs"
  timeout 240 "$PY" scripts/bench_gpu.py --device cuda --arch vit_h --images 32 --batch-size 4
  echo "== 2. serial CPU stages per image"
  timeout 60 "$PY" scripts/bench_cpu_stages.py --size 1024 --repeat 5
  echo "== 3. prelabel pipeline vs encoder only (vit_h, 1024 px)"
  timeout 90 "$PY" scripts/bench_prelabel.py --device cuda --sam vit_h -n 16 --size 1024 --batch-size 4 \
      --precision fp32 --repeat 1
  timeout 90 "$PY" scripts/bench_prelabel.py --device cuda --sam vit_h -n 16 --size 1024 --batch-size 4 \
      --precision bf16 --sdpa --repeat 1
} 2>&1 | tee "$OUT"
