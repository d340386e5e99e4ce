"""Same seed, same thread count, same machine: the quickstart's training runs give bit-identical weights."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from .conftest import RECIPES, load_recipe, quick_args


pytestmark = pytest.mark.xdist_group("training-recipes")

QUICKSTART_STAGE2 = RECIPES / "configs" / "llava_phi3" / "quickstart_cpu_stage2.yaml"


def _train(output, tiny_checkpoint, vqa_dataset, seed):
    argv = ["--config", str(QUICKSTART_STAGE2), "--init_from", "", "--model_name_or_path", tiny_checkpoint]
    argv += ["--dataset_paths", vqa_dataset, "--seed", str(seed)]
    trainer = load_recipe("stage2").run(argv + quick_args(output, max_steps=4, save_strategy="no"))
    assert trainer.args.full_determinism  # as shipped in the quickstart config
    return load_file(output / "model.safetensors")


def test_same_seed_gives_identical_weights_and_another_seed_does_not(tmp_path, tiny_checkpoint, vqa_dataset):
    threads = torch.get_num_threads()
    try:
        first = _train(tmp_path / "a", tiny_checkpoint, vqa_dataset, seed=3)
        second = _train(tmp_path / "b", tiny_checkpoint, vqa_dataset, seed=3)
        other = _train(tmp_path / "c", tiny_checkpoint, vqa_dataset, seed=4)
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert any(not torch.equal(first[key], other[key]) for key in first)
