#!/usr/bin/env bash
# Create ./.venv (or use $ADDRESSVLM_VENV) and install addressvlm with everything the quickstart and tests need.
# Idempotent: re-running is a no-op unless pyproject.toml or the constraints changed.
#
# CPU machines get torch==2.13.0 (the CPU wheel where one is offered) and never torchvision: PyPI's torchvision
# wheels are CUDA builds that fail to import without CUDA and break transformers' Llava imports.
# GPU machines (nvidia-smi answers) get the CUDA build of torch and the [gpu] extra (torchvision).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ADDRESSVLM_VENV:-.venv}"
PY="${PYTHON:-python3}"
TORCH_SPEC="${ADDRESSVLM_TORCH:-torch==2.13.0}"
CONSTRAINTS=".ci/constraints.txt"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating virtual environment in $VENV"
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then has_gpu=1; fi
extras="train,data,labels,retrieval,dev,demo"
[ "$has_gpu" = 1 ] && extras="$extras,gpu"

stamp_src="$(cat pyproject.toml "$CONSTRAINTS" 2>/dev/null; echo "$TORCH_SPEC $extras")"
stamp="$(printf '%s' "$stamp_src" | sha256sum | cut -c1-16)"
if [ -f "$VENV/.bootstrap-stamp" ] && [ "$(cat "$VENV/.bootstrap-stamp")" = "$stamp" ]; then
  exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch" >/dev/null 2>&1; then
  echo "[bootstrap] installing $TORCH_SPEC first (gpu=$has_gpu)"
  if [ "$has_gpu" = 1 ]; then
    # Ignore local CPU-only wheel folders so pip resolves the CUDA build from the index.
    PIP_FIND_LINKS="" pip install "$TORCH_SPEC"
  else
    pip install "$TORCH_SPEC"
  fi
fi
torch_version="$(python -c 'import torch; print(torch.__version__.split("+")[0])')"
echo "[bootstrap] installing addressvlm[$extras] (torch $torch_version kept, versions pinned by $CONSTRAINTS)"
# The tested versions everywhere, GPU machines included; only torch is the one installed above.
pinned="$(mktemp)"
trap 'rm -f "$pinned"' EXIT
grep -v '^torch==' "$CONSTRAINTS" > "$pinned"
pip install -e ".[$extras]" -c "$pinned" "torch==$torch_version"
if [ "$has_gpu" = 0 ]; then
  if python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then
    echo "[bootstrap] removing torchvision: no CPU build exists and it breaks transformers' Llava imports"
    pip uninstall -y torchvision
  fi
fi
echo "$stamp" > "$VENV/.bootstrap-stamp"
echo "[bootstrap] ready: $(python -c 'import torch,transformers,peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")')"
