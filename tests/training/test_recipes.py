"""The stage-1 and stage-2 recipes end to end on the tiny model: training, artefacts, loading back, chaining."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from addressvlm.models import load_pretrained
from addressvlm.training.artifacts import check_saved_tensors

from .conftest import ROOT, TINY_STAGE1, fixed_batch, logits_of, quick_args


pytestmark = pytest.mark.xdist_group("training-recipes")


def _losses(output_dir) -> list[float]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


def _assert_complete_adapter(folder, processor, expect_parents=()):
    names = {path.name for path in folder.iterdir()}
    for required in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "chat_template.jinja",
        "generation_config.json",
        "README.md",
    ):
        assert required in names, f"{required} missing from {folder}"
    assert "config.json" not in names  # an adapter folder, not a full model
    weights = load_file(folder / "adapter_model.safetensors")
    assert any(".lora_B." in key for key in weights)
    assert any("multi_modal_projector.linear_1.weight" in key for key in weights)
    assert any("vision_tower." in key and ".lora_" not in key for key in weights)  # vision trained in full
    assert check_saved_tensors(folder) > 0
    config = json.loads((folder / "adapter_config.json").read_text())
    assert not os.path.isabs(config["base_model_name_or_path"])
    assert (folder / config["base_model_name_or_path"] / "config.json").is_file()
    generation = json.loads((folder / "generation_config.json").read_text())
    assert processor.tokenizer.convert_tokens_to_ids("<|end|>") in generation["eos_token_id"]
    for parent in expect_parents:
        assert (folder / parent / "adapter_model.safetensors").is_file()


def test_stage1_trains_and_saves_complete_artifacts(stage1_output, tiny_checkpoint):
    output, model = stage1_output
    losses = _losses(output)
    assert len(losses) == 6
    assert losses[-1] < losses[0] - 0.05, losses
    _, processor = load_pretrained(tiny_checkpoint)
    _assert_complete_adapter(output, processor)
    for checkpoint in ("checkpoint-3", "checkpoint-6"):
        _assert_complete_adapter(output / checkpoint, processor)
        assert (output / checkpoint / "optimizer.pt").is_file()
    card = (output / "README.md").read_text()
    assert "stage 1 (cross-view alignment tuning)" in card
    assert "| lora_r | 8 |" in card and "| learning_rate | 0.002 |" in card
    assert "train_loss" in card
    assert str(output.parent.parent) not in card  # no absolute local paths
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    assert all(0 <= entry["padding_fraction"] < 1 for entry in history if "loss" in entry)


def test_stage1_output_reloads_with_identical_logits(stage1_output, tiny_checkpoint, stage1_dataset):
    output, trained = stage1_output
    loaded, processor = load_pretrained(output)
    batch = fixed_batch(processor, stage1_dataset)
    expected = logits_of(trained, batch)
    torch.testing.assert_close(logits_of(loaded, batch), expected, rtol=0, atol=1e-5)
    on_base, _ = load_pretrained(tiny_checkpoint, adapter=output)
    torch.testing.assert_close(logits_of(on_base, batch), expected, rtol=0, atol=1e-5)
    base, _ = load_pretrained(tiny_checkpoint)
    assert (logits_of(base, batch) - expected).abs().max() > 1e-3  # the adapter changed the model


@pytest.mark.parametrize("mode", ["merge", "stack"])
def test_stage2_from_stage1_reloads_with_identical_logits(mode, stage1_output, run_stage2, tmp_path, vqa_dataset):
    stage1_dir, _ = stage1_output
    output = tmp_path / f"stage2-{mode}"
    trainer = run_stage2(output, stage1_dir, init_mode=mode)
    losses = _losses(output)
    assert losses[-1] < losses[0], losses
    parent = "parents/stage1" if mode == "merge" else "stage1"
    _, processor = load_pretrained(output)
    _assert_complete_adapter(output, processor, expect_parents=[parent])
    _assert_complete_adapter(output / "checkpoint-6", processor, expect_parents=[parent])
    chain = json.loads((output / "adapter_chain.json").read_text())["parents"]
    assert chain == [{"mode": mode, "name": "stage1", "path": parent}]
    if mode == "stack":
        assert list(trainer.model.active_adapters) == ["default", "stage1"]
        stage1_lora = load_file(stage1_dir / "adapter_model.safetensors")
        saved_lora = load_file(output / "stage1" / "adapter_model.safetensors")
        for key, value in saved_lora.items():  # the stacked stage-1 LoRA stayed frozen
            torch.testing.assert_close(value, stage1_lora[key], rtol=0, atol=0)
    loaded, processor = load_pretrained(output)
    batch = fixed_batch(processor, vqa_dataset)
    torch.testing.assert_close(logits_of(loaded, batch), logits_of(trainer.model, batch), rtol=0, atol=1e-5)


def test_stage1_without_lora_saves_a_full_model_that_stage2_builds_on(run_stage1, run_stage2, tmp_path, vqa_dataset):
    # Table 4 variant A, stage 1: only the projector trains; there is nothing for an adapter to hold.
    stage1 = tmp_path / "variant-a-stage1"
    trainer = run_stage1(stage1, max_steps=2, vision="frozen", llm="frozen")
    assert (stage1 / "config.json").is_file() and not (stage1 / "adapter_config.json").exists()
    reloaded, processor = load_pretrained(stage1)
    batch = fixed_batch(processor, vqa_dataset)
    torch.testing.assert_close(logits_of(reloaded, batch), logits_of(trainer.model, batch), rtol=0, atol=1e-5)
    stage2 = tmp_path / "variant-a-stage2"
    run_stage2(stage2, stage1, max_steps=2, vision="frozen")
    config = json.loads((stage2 / "adapter_config.json").read_text())
    assert (stage2 / config["base_model_name_or_path"]).resolve() == stage1.resolve()


def test_existing_checkpoints_need_an_explicit_resume(stage1_output, run_stage1):
    output, _ = stage1_output
    with pytest.raises(ValueError, match="resume_from_checkpoint last"):
        run_stage1(output)


def test_stage1_command_line(tiny_checkpoint, stage1_dataset, tmp_path):
    output = tmp_path / "cli-run"
    command = [sys.executable, str(ROOT / "recipes" / "stage1.py"), "--config", str(TINY_STAGE1)]
    command += ["--model_name_or_path", tiny_checkpoint, "--dataset_paths", stage1_dataset]
    command += quick_args(output, max_steps=2)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Trainable parts" in result.stderr and "Training rows: 24" in result.stderr
    assert (output / "adapter_model.safetensors").is_file() and (output / "README.md").is_file()


def test_stage1_on_a_stock_layout_base(run_stage1, tmp_path_factory, tmp_path, stage1_dataset):
    # The real base (xtuner/llava-phi-3-mini-hf) is a stock Llava with a Llama-ified Phi-3, converted at load.
    from addressvlm.models.llava_phi3.tiny_llava_phi3 import save_tiny_llava_hf

    stock = save_tiny_llava_hf(tmp_path_factory.mktemp("stock-base"), layout="legacy")
    output = tmp_path / "on-stock"
    trainer = run_stage1(output, max_steps=2, model_name_or_path=stock)
    config = json.loads((output / "adapter_config.json").read_text())
    assert (output / config["base_model_name_or_path"]).resolve() == Path(stock).resolve()
    loaded, processor = load_pretrained(output)
    batch = fixed_batch(processor, stage1_dataset)
    torch.testing.assert_close(logits_of(loaded, batch), logits_of(trainer.model, batch), rtol=0, atol=1e-5)
