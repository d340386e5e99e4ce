"""The recipe's DeepSpeed ZeRO-2 and ZeRO-3 paths for real: two CPU processes over gloo (ZeRO-2 launched with the
shipped accelerate config), checked against one process on the same rows.

Two ranks with 4 rows each equal one process with 8 rows when the ranks' gradients are combined right: the runs use
SGD with momentum (the update is linear in the gradient, so a wrong weighting shows in the weights; Adam's first
steps are close to ``lr * sign(gradient)`` and would hide it), no dropout, and sequential sampling (Accelerate's
batch sharding gives rank 0 rows 0-3 and rank 1 rows 4-7 of the single run's batch of 8). The loss is the mean over
the label tokens of the whole batch (the Trainer's ``average_tokens_across_devices``): the ranks hold different
token counts, so averaging the per-rank means would not match. Under ZeRO-3 the recipe seeds again after loading the
base model (deepspeed.zero.Init draws random numbers), so LoRA starts where the single-process run starts.

Slow: the first run JIT-compiles DeepSpeed's shared-memory op (~40 s, cached in ``TORCH_EXTENSIONS_DIR``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from addressvlm.models import load_pretrained
from addressvlm.training.artifacts import check_saved_tensors

from .conftest import ROOT, TINY_STAGE1, fixed_batch, logits_of, quick_args


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training-recipes")]

LINEAR = {
    "optim": "sgd",
    "optim_args": "momentum=0.9",
    "learning_rate": 0.1,
    "warmup_steps": 0,
    "lora_dropout": 0.0,
    "train_sampling_strategy": "sequential",
}
"""Overrides that make 2 ranks x 4 rows and 1 process x 8 rows the same computation (see the module docstring)."""

ATOL = 1e-6
"""Float32 noise only: the two runs sum the same per-token gradients in a different order (one backward over 8 rows
against two backwards over 4, padded to other lengths, then an all-reduce). Measured: 1.5e-8 at steps 2 and 4 with
ZeRO-2 and ZeRO-3, while steps 3-4 move the tensors by up to 1.9e-2. Weighting the ranks wrong (per-rank token
means, or one rank's loss doubled) leaves them 1e-2 apart at step 2."""


@pytest.fixture(scope="module")
def single_process(run_stage1, tmp_path_factory):
    """The single-process reference: 4 steps of 8 rows, saved at steps 2 and 4 (run once for both launchers)."""
    output = tmp_path_factory.mktemp("deepspeed-reference") / "single"
    run_stage1(output, max_steps=4, save_steps=2, per_device_train_batch_size=8, **LINEAR)
    return output


def _losses(output) -> dict[int, float]:
    history = json.loads((output / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accelerate() -> list[str]:
    exe = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "accelerate.commands.launch"]


def _launcher(kind: str) -> list[str]:
    port = str(_free_port())
    if kind == "zero2-accelerate":  # what users run, with the shipped CPU accelerate config
        config = str(ROOT / "recipes/accelerate/zero2_cpu.yaml")
        return _accelerate() + ["launch", "--config_file", config, "--main_process_port", port]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port]


@pytest.mark.parametrize("kind", ["zero2-accelerate", "zero3-torchrun"])
def test_two_processes_save_the_adapter_a_single_process_run_would(
    kind, tiny_checkpoint, stage1_dataset, single_process, tmp_path
):
    output = tmp_path / kind
    command = _launcher(kind) + [str(ROOT / "recipes/stage1.py"), "--config", str(TINY_STAGE1)]
    command += ["--model_name_or_path", tiny_checkpoint, "--dataset_paths", stage1_dataset]
    command += quick_args(output, max_steps=4, save_steps=2, **LINEAR)
    if kind == "zero3-torchrun":
        command += ["--deepspeed", str(ROOT / "ds_configs/zero3.json")]
    env = dict(os.environ, OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    card = (output / "README.md").read_text()
    stage = "ZeRO-2" if kind.startswith("zero2") else "ZeRO-3"
    assert "| devices | 2 |" in card and f"| deepspeed | {stage} |" in card
    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["epoch"] == pytest.approx(4 * 2 * 4 / 24)  # 2 ranks x batch 4

    # the logged loss is the whole batch's (the ranks' token-weighted mean), step by step
    assert _losses(output) == pytest.approx(_losses(single_process), abs=1e-5)
    start = load_file(single_process / "checkpoint-2" / "adapter_model.safetensors")
    for name in ("checkpoint-2", "checkpoint-4", "."):
        assert check_saved_tensors(output / name) > 0  # raises on any empty tensor
        ours = load_file(output / name / "adapter_model.safetensors")
        reference = load_file(single_process / name / "adapter_model.safetensors")
        assert ours.keys() == reference.keys()
        for key in reference:
            torch.testing.assert_close(ours[key], reference[key], rtol=0, atol=ATOL, msg=f"{name}: {key}")
    final = load_file(single_process / "adapter_model.safetensors")
    assert max((final[key] - start[key]).abs().max() for key in final) > 100 * ATOL  # steps 3-4 did move them
    assert (output / "checkpoint-2" / "global_step2").is_dir()  # the DeepSpeed engine state, for resuming

    loaded, processor = load_pretrained(output)
    base, _ = load_pretrained(tiny_checkpoint)
    batch = fixed_batch(processor, stage1_dataset)
    logits = logits_of(loaded, batch)
    assert torch.isfinite(logits).all()
    assert (logits - logits_of(base, batch)).abs().max() > 1e-3
    if kind == "zero2-accelerate":  # resuming the DeepSpeed engine (its own checkpoint format) continues exactly
        resumed = tmp_path / "resumed"
        resumed.mkdir()
        shutil.copytree(output / "checkpoint-2", resumed / "checkpoint-2")
        command = [arg if arg != str(output) else str(resumed) for arg in command] + [
            "--resume_from_checkpoint",
            "last",
        ]
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-4000:]
        expected, got = _losses(output), _losses(resumed)
        assert [got[step] for step in (3, 4)] == pytest.approx([expected[step] for step in (3, 4)], abs=1e-5)
        final, again = (
            load_file(output / "adapter_model.safetensors"),
            load_file(resumed / "adapter_model.safetensors"),
        )
        for key in final:
            torch.testing.assert_close(again[key], final[key], rtol=0, atol=1e-6)
