"""One Trainer step with LoRA + activation checkpointing moves every LoRA B and projector weight, and nothing frozen.

Guards the silent failure where checkpointing with a frozen LLM leaves LoRA B at zero (user issue A2).
"""

from __future__ import annotations

import copy

import torch

from addressvlm.data import load_address_dataset
from addressvlm.data.collator import ConversationCollator
from addressvlm.models import get_backbone
from addressvlm.training.arguments import AddressVLMTrainingArguments, TrainablePartsArguments
from addressvlm.training.trainable_parts import TrainableParts, apply_trainable_parts
from addressvlm.training.trainer import AddressVLMTrainer


def test_one_step_with_lora_and_checkpointing(tiny_llava, vqa_dataset, tmp_path):
    base, processor = tiny_llava
    spec = get_backbone(base.config)
    parts_args = TrainablePartsArguments(vision="frozen", projector="full", llm="lora", lora_r=4, lora_dropout=0.0)
    model = apply_trainable_parts(copy.deepcopy(base), TrainableParts.from_args(parts_args), parts_args, spec)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    args = AddressVLMTrainingArguments(
        output_dir=str(tmp_path),
        use_cpu=True,
        max_steps=1,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        warmup_steps=0,
        activation_checkpointing=True,
        train_sampling_strategy="random",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    trainer = AddressVLMTrainer(
        model=model,
        args=args,
        train_dataset=load_address_dataset(vqa_dataset)["train"],
        data_collator=ConversationCollator(processor),
        processing_class=processor,
    )
    trainer.train()
    assert model.get_base_model().is_activation_checkpointing

    moved = {name for name, param in model.named_parameters() if not torch.equal(before[name], param.detach())}
    lora_b = {name for name in before if ".lora_B." in name}
    projector = {name for name in before if spec.group_of(name) == "projector" and ".modules_to_save." in name}
    assert lora_b and projector
    assert lora_b <= moved, sorted(lora_b - moved)[:4]
    assert projector <= moved, sorted(projector - moved)
    frozen = {name for name, param in model.named_parameters() if not param.requires_grad}
    assert any("vision_tower" in name for name in frozen) and any("original_module" in name for name in frozen)
    assert not (moved & frozen), sorted(moved & frozen)[:4]
