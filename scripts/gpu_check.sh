#!/usr/bin/env bash
# GPU check of the soup mix: torch + safetensors only (no vLLM, no network), at most 8 minutes.
#   scripts/gpu_check.sh [--out bench/results/gpu_check.json]
# Without a CUDA device it prints why and exits 0, having measured nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec timeout 480 "$PYTHON" scripts/gpu_check.py "$@"
