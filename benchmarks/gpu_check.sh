#!/usr/bin/env bash
# The one-command GPU check (see benchmarks/gpu_check.py): every family at 64 px in fp32 and in
# bf16 + channels_last, FID on 1,000 samples, a 2-process torchrun where two GPUs are visible.
# Without CUDA it says so and exits 0. Extra arguments go to gpu_check.py (e.g. --data celeba).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
