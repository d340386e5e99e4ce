"""``scripts/gpu_smoke.py`` rehearsed on CPU with a tiny stock-layout checkpoint: every step but the GPU itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from addressvlm.models.llava_phi3.tiny_llava_phi3 import save_tiny_llava_hf

from .conftest import ROOT


@pytest.mark.slow
def test_gpu_smoke_script_runs_end_to_end_on_cpu(tmp_path):
    model = save_tiny_llava_hf(tmp_path / "stock", layout="legacy", image_size=56)
    work = tmp_path / "smoke"
    env = dict(os.environ, OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, str(ROOT / "scripts" / "gpu_smoke.py"), "--cpu", "--model", model, "--work", str(work)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((work / "summary.json").read_text())
    assert summary["resumed run: global step"] == "8 (expected 8)"
    assert summary["resumed run: steps trained"] == "2 (expected 2)"  # it continued; it did not start over
    assert summary["resumed run: history of steps 1-6 kept"] == "True"
    assert summary["rotary inv_freq dtype after a bf16 load"] == "torch.float32"
    assert summary["eval: processor pad_image_to_square"] == "True"  # the Pitts config's setting reached eval
    assert "| check | value |" in result.stdout
