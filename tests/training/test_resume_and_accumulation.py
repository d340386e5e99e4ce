"""Resume continues exactly (2 + 2 steps == 4 steps); gradient accumulation gives the same update as a larger batch."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file


pytestmark = pytest.mark.xdist_group("training-recipes")


def _losses(output_dir) -> dict[int, float]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def _assert_same_weights(a, b, atol):
    left, right = load_file(a / "adapter_model.safetensors"), load_file(b / "adapter_model.safetensors")
    assert left.keys() == right.keys()
    for key in left:
        torch.testing.assert_close(left[key], right[key], rtol=0, atol=atol, msg=key)


@pytest.mark.parametrize("stage", ["stage1", "stage2-stack"])
def test_resume_two_plus_two_equals_four(stage, run_stage1, run_stage2, stage1_output, tmp_path):
    # LoRA dropout stays on (0.05): resuming must restore the RNG state as well as weights, optimizer and schedule.
    if stage == "stage1":

        def run(output, **kw):
            return run_stage1(output, max_steps=4, save_steps=2, **kw)
    else:

        def run(output, **kw):
            return run_stage2(output, stage1_output[0], max_steps=4, save_steps=2, init_mode="stack", **kw)

    full, resumed = tmp_path / "full", tmp_path / "resumed"
    run(full)
    resumed.mkdir()
    shutil.copytree(full / "checkpoint-2", resumed / "checkpoint-2")
    trainer = run(resumed, resume_from_checkpoint="last")
    assert trainer.state.global_step == 4
    expected, got = _losses(full), _losses(resumed)
    assert sorted(got) == [1, 2, 3, 4]  # steps 1-2 restored from the checkpoint's state, 3-4 trained again
    for step in (3, 4):
        assert got[step] == pytest.approx(expected[step], abs=1e-5)
    _assert_same_weights(full, resumed, atol=1e-6)
    if stage == "stage2-stack":
        assert list(trainer.model.active_adapters) == ["default", "stage1"]


@pytest.mark.parametrize("strategy", ["sequential"])
def test_gradient_accumulation_matches_the_larger_batch(run_stage1, tmp_path, strategy):
    # SGD so the update is linear in the gradient; no dropout so both runs see the same function.
    common = dict(
        max_steps=1,
        save_steps=1,
        optim="sgd",
        learning_rate=0.5,
        warmup_steps=0,
        lora_dropout=0.0,
        train_sampling_strategy=strategy,
    )
    big = run_stage1(tmp_path / "4x1", per_device_train_batch_size=4, gradient_accumulation_steps=1, **common)
    small = run_stage1(tmp_path / "2x2", per_device_train_batch_size=2, gradient_accumulation_steps=2, **common)
    assert big.state.global_step == small.state.global_step == 1
    assert _losses(tmp_path / "4x1")[1] == pytest.approx(_losses(tmp_path / "2x2")[1], abs=1e-4)
    _assert_same_weights(tmp_path / "4x1", tmp_path / "2x2", atol=1e-5)
    start = load_file(tmp_path / "4x1" / "adapter_model.safetensors")
    assert any(start[key].abs().max() > 0 for key in start if ".lora_B." in key)  # the step did move LoRA B


def _learning_rates(output_dir) -> dict[int, float]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["learning_rate"] for entry in history if "learning_rate" in entry}


def test_incomplete_checkpoints_are_refused_or_skipped(run_stage1, tmp_path, caplog):
    """The probe's resume without optimizer.pt: the Trainer would restart the optimizer and the schedule (a far
    larger learning rate at step 6). An explicit incomplete checkpoint is refused naming the file; ``last`` skips it
    (and an empty newer folder) for the newest complete one, which continues exactly."""
    full = tmp_path / "full"
    run_stage1(full, max_steps=6, save_steps=2, save_total_limit=4)
    run = tmp_path / "run"
    run.mkdir()
    for step in (2, 4):
        shutil.copytree(full / f"checkpoint-{step}", run / f"checkpoint-{step}")
    (run / "checkpoint-4" / "optimizer.pt").unlink()
    (run / "checkpoint-5").mkdir()  # an empty newer folder, as a kill during a save leaves
    with pytest.raises(ValueError, match=r"checkpoint-4 cannot be resumed exactly: optimizer\.pt is missing"):
        run_stage1(run, max_steps=6, save_steps=2, resume_from_checkpoint=str(run / "checkpoint-4"))
    shutil.rmtree(run / "checkpoint-5")
    trainer = run_stage1(run, max_steps=6, save_steps=2, save_total_limit=4, resume_from_checkpoint="last")
    assert "Not resuming from" in caplog.text and "optimizer.pt is missing" in caplog.text
    assert trainer.state.global_step == 6
    assert _learning_rates(run)[6] == pytest.approx(_learning_rates(full)[6], rel=1e-6)
    for step in (3, 4, 5, 6):
        assert _losses(run)[step] == pytest.approx(_losses(full)[step], abs=1e-5)


def test_weights_only_resume_is_explicit(run_stage1, tmp_path, caplog):
    full = tmp_path / "full"
    run_stage1(full, max_steps=4, save_steps=2)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(full / "checkpoint-2", run / "checkpoint-2")
    for name in ("optimizer.pt", "scheduler.pt"):
        (run / "checkpoint-2" / name).unlink()
    trainer = run_stage1(run, max_steps=4, save_steps=2, resume_from_checkpoint="last", resume_weights_only="true")
    assert trainer.state.global_step == 4
    assert "the optimizer starts fresh and the learning-rate schedule restarts" in caplog.text
