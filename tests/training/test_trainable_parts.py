"""Trainable parts: each option trains exactly the module groups it names; LoRA stays on the modules it targets."""

from __future__ import annotations

import copy
import itertools
import re

import pytest
import torch

from addressvlm.models import get_backbone
from addressvlm.training.arguments import TrainablePartsArguments
from addressvlm.training.trainable_parts import (
    GROUP_NAMES,
    TrainableParts,
    apply_trainable_parts,
    format_parameter_table,
    param_group_learning_rates,
    parameter_table,
)

from .conftest import fixed_batch


def _combos():
    for vision, projector, llm in itertools.product(
        ("frozen", "full", "lora"), ("full", "frozen"), ("lora", "full", "frozen")
    ):
        if vision == "frozen" and projector == "frozen" and llm == "frozen":
            continue
        yield vision, projector, llm


def _expected_changed(vision: str, projector: str, llm: str) -> set[str]:
    changed = {
        group for group, mode in (("vision", vision), ("projector", projector), ("llm", llm)) if mode != "frozen"
    }
    if llm == "full":
        changed.add("lm_head")
    return changed


def _effective_weights(model) -> dict[str, torch.Tensor]:
    """The weights the forward pass uses, by base name: LoRA merged in and modules_to_save copies swapped in."""
    from peft import PeftModel

    model = copy.deepcopy(model)
    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    return {name: param.detach().clone() for name, param in model.named_parameters()}


@pytest.fixture(scope="module")
def batch(tiny_llava, vqa_dataset):
    return fixed_batch(tiny_llava[1], vqa_dataset, rows=2)


@pytest.mark.parametrize("vision,projector,llm", list(_combos()))
def test_each_option_trains_exactly_the_groups_it_names(tiny_llava, batch, vision, projector, llm):
    base, _ = tiny_llava
    spec = get_backbone(base.config)
    args = TrainablePartsArguments(vision=vision, projector=projector, llm=llm, lora_r=4, lora_alpha=8, lora_dropout=0)
    model = apply_trainable_parts(copy.deepcopy(base), TrainableParts.from_args(args), args, spec)
    before = _effective_weights(model)
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    for _ in range(2):  # the second step moves LoRA A too (B starts at zero)
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    after = _effective_weights(model)
    changed = {spec.group_of(name) for name in before if not torch.equal(before[name], after[name])}
    assert changed == _expected_changed(vision, projector, llm)
    for name, _ in model.named_parameters():
        if ".lora_" in name:
            group = spec.group_of(name)
            assert group in {g for g, mode in (("vision", vision), ("llm", llm)) if mode == "lora"}, name


def test_llm_lora_targets_only_language_model_linears(tiny_llava):
    base, _ = tiny_llava
    args = TrainablePartsArguments(vision="frozen", llm="lora", lora_r=4)
    model = apply_trainable_parts(copy.deepcopy(base), TrainableParts.from_args(args), args)
    adapted = {name.rsplit(".lora_A", 1)[0] for name, _ in model.named_parameters() if ".lora_A." in name}
    layers = base.config.text_config.num_hidden_layers
    expected = {
        f"base_model.model.model.language_model.layers.{i}.{module}"
        for i in range(layers)
        for module in ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj")
    }
    assert adapted == expected
    vision_names = [name for name, _ in base.named_modules() if re.search(r"vision_tower.*\.(q|k|v)_proj$", name)]
    assert vision_names, "the vision tower has q/k/v projections that the regex must not match"
    assert not any("vision_tower" in name for name in adapted)
    assert not any(p.requires_grad for n, p in model.named_parameters() if "vision_tower" in n)


def test_vision_lora_targets_only_the_vision_tower(tiny_llava):
    base, _ = tiny_llava
    args = TrainablePartsArguments(vision="lora", llm="frozen", lora_r=4)
    model = apply_trainable_parts(copy.deepcopy(base), TrainableParts.from_args(args), args)
    adapted = [name for name, _ in model.named_parameters() if ".lora_A." in name]
    assert adapted and all(".vision_tower." in name for name in adapted)


def test_parameter_table_counts_and_learning_rates(tiny_llava):
    base, _ = tiny_llava
    spec = get_backbone(base.config)
    args = TrainablePartsArguments(vision="full", llm="lora", lora_r=4, projector_lr=1e-3, vision_lr=2e-6)
    parts = TrainableParts.from_args(args)
    model = apply_trainable_parts(copy.deepcopy(base), parts, args, spec)
    rows = {row["group"]: row for row in parameter_table(model, spec, parts, param_group_learning_rates(args, 1e-5))}
    assert set(rows) == {*GROUP_NAMES, "total"}
    assert rows["total"]["parameters"] == sum(p.numel() for p in base.parameters())
    assert rows["total"]["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert rows["vision"]["trainable"] == rows["vision"]["parameters"]
    assert rows["lm_head"]["trainable"] == 0 and rows["lm_head"]["lr"] is None
    assert 0 < rows["llm"]["trainable"] < rows["llm"]["parameters"]
    assert (rows["projector"]["lr"], rows["vision"]["lr"], rows["llm"]["lr"]) == (1e-3, 2e-6, 1e-5)
    text = format_parameter_table(list(rows.values()))
    assert "projector  full" in text and "1.00e-03" in text


def test_optimizer_param_groups_use_the_group_learning_rates(tiny_llava, vqa_dataset, tmp_path):
    from addressvlm.training.arguments import AddressVLMTrainingArguments
    from addressvlm.training.trainer import AddressVLMTrainer

    base, _ = tiny_llava
    spec = get_backbone(base.config)
    args = TrainablePartsArguments(vision="full", llm="lora", lora_r=4, projector_lr=1e-3, vision_lr=2e-6)
    model = apply_trainable_parts(copy.deepcopy(base), TrainableParts.from_args(args), args, spec)
    training_args = AddressVLMTrainingArguments(output_dir=str(tmp_path), use_cpu=True, learning_rate=1e-5)
    trainer = AddressVLMTrainer(
        model=model, args=training_args, group_learning_rates=param_group_learning_rates(args, 1e-5), backbone=spec
    )
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    for name, param in model.named_parameters():
        if param.requires_grad:
            expected = {"projector": 1e-3, "vision": 2e-6}.get(spec.group_of(name), 1e-5)
            assert lr_of[id(param)] == expected, name
    assert sum(len(group["params"]) for group in optimizer.param_groups) == sum(
        1 for p in model.parameters() if p.requires_grad
    )


def test_nothing_to_train_is_an_error_naming_the_fields(tiny_llava):
    base, _ = tiny_llava
    args = TrainablePartsArguments(vision="frozen", projector="frozen", llm="frozen")
    with pytest.raises(ValueError, match="vision=frozen, projector=frozen, llm=frozen"):
        apply_trainable_parts(copy.deepcopy(base), TrainableParts.from_args(args), args)


def test_invalid_mode_names_the_field():
    with pytest.raises(ValueError, match="vision must be one of"):
        TrainablePartsArguments(vision="half")
