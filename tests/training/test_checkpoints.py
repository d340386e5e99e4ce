"""Checkpoint completeness and integrity, without training: what is missing or damaged is named."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from addressvlm.training.checkpoints import check_weight_files, checkpoint_problems, newest_complete_checkpoint


def _checkpoint(folder):
    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(64, 64)}, str(folder / "adapter_model.safetensors"))
    torch.save({"state": {0: torch.ones(64)}}, folder / "optimizer.pt")
    torch.save({"last_epoch": 2}, folder / "scheduler.pt")
    torch.save({"python": 1}, folder / "rng_state.pth")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    return folder


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "optimizer.pt").unlink(), "optimizer.pt is missing"),
        (lambda f: (f / "scheduler.pt").unlink(), "scheduler.pt is missing"),
        (lambda f: (f / "rng_state.pth").unlink(), "rng_state.pth is missing"),
        (lambda f: (f / "trainer_state.json").unlink(), "trainer_state.json is missing"),
        (lambda f: (f / "adapter_model.safetensors").unlink(), "no weights"),
        (lambda f: _truncate(f / "adapter_model.safetensors"), "adapter_model.safetensors is damaged"),
        (lambda f: _truncate(f / "optimizer.pt"), "optimizer.pt is damaged"),
        (lambda f: (f / "trainer_state.json").write_text("{"), "trainer_state.json is damaged"),
    ],
)
def test_problems_name_the_file(tmp_path, damage, message):
    folder = _checkpoint(tmp_path / "checkpoint-2")
    assert checkpoint_problems(folder) == []
    damage(folder)
    problems = checkpoint_problems(folder)
    assert len(problems) == 1 and problems[0].startswith(message)


def test_weights_only_needs_weights_and_state(tmp_path):
    folder = _checkpoint(tmp_path / "checkpoint-2")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (folder / name).unlink()
    assert checkpoint_problems(folder, weights_only=True) == []
    assert len(checkpoint_problems(folder)) == 3


def test_last_skips_empty_and_incomplete_folders(tmp_path, caplog):
    _checkpoint(tmp_path / "checkpoint-2")
    (_checkpoint(tmp_path / "checkpoint-10") / "scheduler.pt").unlink()
    (tmp_path / "checkpoint-11").mkdir()
    found, skipped = newest_complete_checkpoint(tmp_path)
    assert found == str(tmp_path / "checkpoint-2")
    assert skipped == {
        str(tmp_path / "checkpoint-11"): ["the folder is empty"],
        str(tmp_path / "checkpoint-10"): ["scheduler.pt is missing"],
    }
    assert "Not resuming from" in caplog.text


def test_damaged_weights_are_named_before_loading(tmp_path):
    folder = _checkpoint(tmp_path / "adapter")
    check_weight_files(folder)
    _truncate(folder / "adapter_model.safetensors")
    with pytest.raises(ValueError, match=r"adapter/adapter_model\.safetensors is damaged \(SafetensorError"):
        check_weight_files(folder)


def test_merge_names_a_damaged_adapter(tmp_path, capsys):
    from addressvlm.cli import main

    folder = _checkpoint(tmp_path / "adapter")
    _truncate(folder / "adapter_model.safetensors")
    assert main(["merge", str(folder), "--output", str(tmp_path / "merged")]) == 2
    assert "adapter_model.safetensors is damaged (SafetensorError" in capsys.readouterr().err
