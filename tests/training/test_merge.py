"""``addressvlm merge``: the merged model (our layout and the stock Llava layout) gives the adapter's logits."""

from __future__ import annotations

import json

import pytest
import torch

from addressvlm.cli import main as addressvlm_main
from addressvlm.models import load_pretrained
from addressvlm.training.merge import merge_adapter

from .conftest import fixed_batch, logits_of


pytestmark = pytest.mark.xdist_group("training-recipes")


def test_merge_cli_writes_both_layouts_with_the_adapter_logits(
    stage1_output, tiny_checkpoint, stage1_dataset, tmp_path
):
    from transformers import LlavaForConditionalGeneration

    adapter, _ = stage1_output
    on_base, processor = load_pretrained(tiny_checkpoint, adapter=adapter)
    batch = fixed_batch(processor, stage1_dataset)
    expected = logits_of(on_base, batch)

    ours, stock = tmp_path / "merged", tmp_path / "merged-llava-hf"
    assert addressvlm_main(["merge", str(adapter), "--output", str(ours)]) == 0
    assert addressvlm_main(["merge", str(adapter), "--output", str(stock), "--layout", "llava-hf"]) == 0

    merged, merged_processor = load_pretrained(ours)
    assert not hasattr(merged, "peft_config")
    torch.testing.assert_close(logits_of(merged, batch), expected, rtol=0, atol=1e-4)
    generation = json.loads((ours / "generation_config.json").read_text())
    assert processor.tokenizer.convert_tokens_to_ids("<|end|>") in generation["eos_token_id"]
    assert merged_processor.tokenizer.get_vocab() == processor.tokenizer.get_vocab()

    assert json.loads((stock / "config.json").read_text())["model_type"] == "llava"
    served = LlavaForConditionalGeneration.from_pretrained(stock).eval()  # plain transformers, no addressvlm code
    torch.testing.assert_close(logits_of(served, batch), expected, rtol=0, atol=1e-4)


def test_merge_replays_a_stacked_chain(stage1_output, run_stage2, tmp_path, vqa_dataset):
    stage2 = tmp_path / "stage2-stack"
    trainer = run_stage2(stage2, stage1_output[0], max_steps=2, init_mode="stack")
    merged_dir = merge_adapter(stage2, tmp_path / "merged", dtype="float32")
    merged, processor = load_pretrained(merged_dir)
    batch = fixed_batch(processor, vqa_dataset)
    torch.testing.assert_close(logits_of(merged, batch), logits_of(trainer.model, batch), rtol=0, atol=1e-4)


def test_merge_refuses_a_non_empty_output_and_a_full_checkpoint(stage1_output, tiny_checkpoint, tmp_path, capsys):
    adapter, _ = stage1_output
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("x")
    assert addressvlm_main(["merge", str(adapter), "--output", str(taken)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert addressvlm_main(["merge", tiny_checkpoint, "--output", str(tmp_path / "out")]) == 2
    assert "no adapter" in capsys.readouterr().err


def test_merge_never_writes_over_its_input(stage1_output, tmp_path, capsys):
    adapter, _ = stage1_output
    before = sorted(path.name for path in adapter.iterdir())
    for output in (adapter, adapter.parent):  # the run folder itself, or a folder holding it
        assert addressvlm_main(["merge", str(adapter), "--output", str(output), "--overwrite"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: the output folder {output} ") and "input" in err
    assert sorted(path.name for path in adapter.iterdir()) == before
