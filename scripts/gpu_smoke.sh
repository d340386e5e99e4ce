#!/usr/bin/env bash
# First-GPU smoke test (not run in CI): the real-size LLaVA-Phi-3-mini through stage 2 under DeepSpeed ZeRO-2 on one
# GPU -- 6 steps, resume to 8, peak memory, seconds per step, the rotary buffer dtype, an eval of 20 images -- and
# one summary table. About 5-10 minutes on one 80 GB GPU; no download (random weights) unless --model names a
# cached checkpoint.
#
#   bash scripts/gpu_smoke.sh [--work gpu_smoke] [--model xtuner/llava-phi-3-mini-hf]
#
# Set ADDRESSVLM_SKIP_BOOTSTRAP=1 to use the Python environment already active instead of ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ADDRESSVLM_SKIP_BOOTSTRAP:-}" ]; then
  bash scripts/bootstrap.sh
  # shellcheck disable=SC1091
  . "${ADDRESSVLM_VENV:-.venv}/bin/activate"
fi
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
exec python scripts/gpu_smoke.py "$@"
