#!/usr/bin/env bash
# Build the wheel, install it (no extras) into a fresh virtual environment outside the checkout, and use it from a
# folder that is not the checkout: `addressvlm eval` of a tiny model on a tiny VQA set (the metric must come from the
# package), one step of the stage-2 recipe with a shipped config (`addressvlm train`), and the quickstart's --help.
# CI runs it (.ci/run); about 3-5 minutes, most of it installing torch from the local wheels.
#
# Versions as scripts/bootstrap.sh pins them: torch first ($ADDRESSVLM_TORCH, default torch==2.13.0), then the
# wheel with .ci/constraints.txt. KEEP_WHEEL_CHECK=1 keeps the work folder (printed at the start).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PY="${PYTHON:-python3}"
TORCH_SPEC="${ADDRESSVLM_TORCH:-torch==2.13.0}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/addressvlm-wheel-check.XXXXXX")"
if [ "${KEEP_WHEEL_CHECK:-0}" = 1 ]; then
  echo "[wheel] work folder (kept): $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Nothing of the checkout may leak into the installed package's imports.
unset PYTHONPATH ADDRESSVLM_METRIC_PATH VIRTUAL_ENV

echo "[wheel] building from a clean copy of the tracked tree (no stale build/ folder)"
mkdir -p "$WORK/src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$WORK/src"
else
  tar --exclude=.venv --exclude=build --exclude=dist -cf - . | tar -xf - -C "$WORK/src"
fi
"$PY" -m pip wheel -q --no-deps --wheel-dir "$WORK/dist" "$WORK/src"
wheel="$(ls "$WORK"/dist/addressvlm-*.whl)"
echo "[wheel] built $(basename "$wheel")"
for shipped in addressvlm/evaluation/address_accuracy/address_accuracy.py addressvlm/evaluation/address_accuracy/README.md \
  addressvlm/recipes/stage1.py addressvlm/recipes/configs/llava_phi3/tiny_cpu_stage2.yaml \
  addressvlm/recipes/accelerate/zero2_8gpu.yaml addressvlm/recipes/experiments/miniature.yaml; do
  "$PY" -c "import sys, zipfile; sys.exit(0 if sys.argv[2] in zipfile.ZipFile(sys.argv[1]).namelist() else \
    f'{sys.argv[2]} is not in the wheel')" "$wheel" "$shipped"
done

echo "[wheel] installing into a fresh virtual environment: $TORCH_SPEC, then the wheel pinned by .ci/constraints.txt"
"$PY" -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
pip install -q "$TORCH_SPEC"
if ! python -c "import torch" >/dev/null 2>&1; then
  # seen once on a loaded machine: a fresh torch failed to load its libraries ("MKL FATAL ERROR: Cannot load
  # libtorch_cpu.so") and loaded after a reinstall; say so and reinstall once rather than fail the whole check
  echo "[wheel] torch did not import in the fresh venv; reinstalling it once"
  pip install -q --force-reinstall --no-deps "$TORCH_SPEC"
fi
torch_version="$(python -c 'import torch; print(torch.__version__.split("+")[0])')"
grep -v '^torch==' "$REPO/.ci/constraints.txt" > "$WORK/constraints.txt"
pip install -q "$wheel" -c "$WORK/constraints.txt" "torch==$torch_version"
if python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then
  pip uninstall -q -y torchvision  # as bootstrap.sh: no CPU build exists and it breaks transformers' Llava imports
fi

mkdir -p "$WORK/run"
cd "$WORK/run"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 OMP_NUM_THREADS=1
location="$(python -c 'import addressvlm; print(addressvlm.__file__)')"
case "$location" in
  "$WORK/venv/"*) echo "[wheel] addressvlm imported from $location" ;;
  *) echo "[wheel] error: addressvlm imported from $location, not from the fresh environment" >&2; exit 1 ;;
esac

addressvlm quickstart --help > quickstart_help.txt
grep -q -- "--output" quickstart_help.txt
echo "[wheel] addressvlm quickstart --help: ok"

echo "[wheel] a tiny VQA set and the tiny model"
vqa="$(python -c "from addressvlm.testing import write_street_view_vqa
print(write_street_view_vqa('data', n_locations=12, views=1, size=(96, 96)))")"
addressvlm tiny-model --output model > /dev/null

echo "[wheel] addressvlm eval (the metric from the package)"
python -c "import sys; from addressvlm.inference.metric import default_metric_path as p; \
sys.exit(0 if str(p()).startswith(sys.prefix) else f'the metric would be read from {p()}, not the install')"
addressvlm eval --model model --dataset "$vqa" --split test --output-dir eval --limit 2 --no-progress > eval.txt
python - <<'EOF'
import json

metrics = json.load(open("eval/metrics.json"))
missing = [key for key in ("A_d", "A_s", "A", "A_sd", "recall", "f1") if key not in metrics]
assert not missing, f"eval/metrics.json lacks {missing}"
assert metrics["n_A"] + metrics["n_A_sd"] > 0, "no question was scored"
print(f"[wheel] eval: {metrics['n_A'] + metrics['n_A_sd']} questions scored, A={metrics['A']}")
EOF

echo "[wheel] addressvlm train stage2 with a shipped config, one step"
addressvlm train stage2 --config llava_phi3/tiny_cpu_stage2.yaml --init_from "" --model_name_or_path model \
  --dataset_paths "$vqa" --output_dir stage2 --max_steps 1 --save_strategy no --disable_tqdm true > train.log 2>&1 \
  || { tail -20 train.log; exit 1; }
test -f stage2/train_results.json
echo "[wheel] train stage2: $(cat stage2/train_results.json)"
echo "[wheel] the installed wheel works outside the checkout"
