"""The acceptance run: the offline city, a tiny base in the stock xtuner layout, stage 1 then stage 2 from the
recipes' command lines, then loading and merging the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from addressvlm.cli import main as addressvlm_main
from addressvlm.models import load_pretrained
from addressvlm.training.artifacts import check_saved_tensors

from .conftest import ROOT, TINY_STAGE1, TINY_STAGE2, fixed_batch, logits_of


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training-recipes")]


def _recipe(stage: str, config, *args) -> None:
    command = [sys.executable, str(ROOT / "recipes" / f"{stage}.py"), "--config", str(config), *map(str, args)]
    command += ["--disable_tqdm", "true", "--save_steps", "1000"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]


def _cli(*args) -> None:
    assert addressvlm_main([str(arg) for arg in args]) == 0, args


def _losses(output) -> list[float]:
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


def test_offline_city_stage1_then_stage2_from_the_command_line(tmp_path):
    city, vqa, align, labelled, base = (tmp_path / name for name in ("city", "vqa", "align", "align-l", "base"))
    metadata = str(city / "metadata.csv")
    _cli(
        "data", "synth-city", "--output", city, "--locations", 24, "--views", 2, "--image-size", 56, "--tile-size", 56
    )
    _cli("data", "build-vqa", metadata, "--output", vqa)
    _cli("data", "build-alignment", metadata, "--output", align, "--size", 56, "--vqa-dataset", vqa)
    _cli("data", "label-alignment", align, "-o", labelled, "--fallback-only", "--no-progress")
    _cli("tiny-model", "--output", base, "--layout", "llava-hf")

    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    _recipe("stage1", TINY_STAGE1, "--model_name_or_path", base, "--dataset_paths", labelled, "--output_dir", stage1)
    _recipe("stage2", TINY_STAGE2, "--init_from", stage1, "--dataset_paths", vqa, "--output_dir", stage2)

    for output in (stage1, stage2):
        losses = _losses(output)
        assert losses[-1] < losses[0] - 0.1, losses
        for name in ("adapter_config.json", "adapter_model.safetensors", "processor_config.json", "README.md"):
            assert (output / name).is_file(), f"{name} missing in {output}"
        assert check_saved_tensors(output) > 0
    assert json.loads((stage2 / "adapter_config.json").read_text())["base_model_name_or_path"] == "../base"

    model, processor = load_pretrained(stage2)
    batch = fixed_batch(processor, str(vqa))
    expected = logits_of(model, batch)
    merged = tmp_path / "merged"
    assert addressvlm_main(["merge", str(stage2), "--output", str(merged), "--layout", "llava-hf"]) == 0
    served, _ = load_pretrained(merged)
    torch.testing.assert_close(logits_of(served, batch), expected, rtol=0, atol=1e-4)
