"""The steps a training recipe runs, one function each: logging, resume, parts table, trainer, final save, push.

`run_stage` calls them in order for one stage; ``recipes/stage1.py`` and ``recipes/stage2.py`` are that flow with
their `Stage` (which datasets, whether it starts from an earlier stage).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import ArtifactWriter, generation_config_for, save_final_artifacts
from .callbacks import CheckpointArtifactsCallback, StackedAdaptersCallback
from .trainable_parts import (
    TrainableParts,
    format_parameter_table,
    param_group_learning_rates,
    parameter_table,
    set_requires_grad,
    stacked_adapters,
)


__all__ = [
    "Stage",
    "build_trainer",
    "build_writer",
    "checkpoint_to_resume",
    "finish_training",
    "hub_target",
    "log_parameter_table",
    "recipe_functions",
    "run_stage",
    "setup_distributed",
    "setup_logging",
]

logger = logging.getLogger("addressvlm.training")


def setup_logging(training_args) -> None:
    """Log to stderr: addressvlm at info on the main process; transformers and datasets at the Trainer's
    per-process level (``log_level`` / ``log_level_replica``)."""
    import datasets
    import transformers

    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stderr)],
    )
    level = training_args.get_process_log_level()
    logging.getLogger("addressvlm").setLevel(logging.INFO if training_args.should_log else level)
    transformers.utils.logging.set_verbosity(level)
    datasets.utils.logging.set_verbosity(level)


def setup_distributed(training_args) -> None:
    """Set up the device and process group before the model loads.

    ZeRO-3 shards weights while they load (``deepspeed.zero.Init``) and needs DeepSpeed's view of the world size by
    then; GPU launchers provide it, but on CPU (gloo) only the torch process group exists until the Trainer starts.
    """
    from transformers.integrations import is_deepspeed_zero3_enabled

    training_args.device  # noqa: B018  (initialises the process group)
    if is_deepspeed_zero3_enabled():
        import deepspeed

        deepspeed.init_distributed()  # reuses an existing torch process group


def checkpoint_to_resume(training_args) -> str | None:
    """The checkpoint to resume from: ``--resume_from_checkpoint PATH``, or ``last`` / ``true`` for the newest
    complete ``checkpoint-N`` in ``output_dir``.

    A checkpoint must hold everything an exact resume needs -- weights, ``optimizer.pt``, ``scheduler.pt``,
    ``rng_state.pth`` and ``trainer_state.json``, all intact -- or the Trainer would silently restart the optimizer
    and the learning-rate schedule. ``last`` skips (and logs) empty, incomplete or damaged folders;
    ``resume_weights_only`` accepts a checkpoint without the optimizer, schedule and random state (they restart).

    Raises:
        `ValueError`: ``output_dir`` already holds checkpoints and no resume was asked for (a new run would mix its
        checkpoints with the old ones), ``last`` finds no complete checkpoint, or the named checkpoint is missing,
        incomplete or damaged (the message names the files).
    """
    from transformers.trainer_utils import get_last_checkpoint

    from .checkpoints import checkpoint_problems, newest_complete_checkpoint

    output_dir = Path(training_args.output_dir)
    weights_only = bool(getattr(training_args, "resume_weights_only", False))
    asked = training_args.resume_from_checkpoint
    if asked is None:
        last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
        if last is not None:
            raise ValueError(
                f"output_dir {output_dir} already holds checkpoints ({Path(last).name}); pass "
                "--resume_from_checkpoint last to continue, or choose a new output_dir"
            )
        return None
    hint = (
        "; restore the file, resume from another checkpoint, or pass --resume_weights_only true to continue from "
        "the weights and step alone (the optimizer and the learning-rate schedule restart)"
    )
    if str(asked).lower() in ("last", "true"):
        found, skipped = newest_complete_checkpoint(output_dir, weights_only)
        if found is None:
            if not skipped:
                raise ValueError(f"resume_from_checkpoint={asked}: no checkpoint-N in {output_dir}")
            details = "; ".join(f"{Path(folder).name}: {', '.join(problems)}" for folder, problems in skipped.items())
            raise ValueError(
                f"resume_from_checkpoint={asked}: no complete checkpoint in {output_dir} ({details})"
                + ("" if weights_only else hint)
            )
        if skipped:
            logger.warning("Resuming from %s, the newest complete checkpoint", found)
        return found
    if not Path(asked).is_dir():
        raise ValueError(f"resume_from_checkpoint={asked} is not a checkpoint folder")
    problems = checkpoint_problems(asked, weights_only)
    if problems:
        raise ValueError(
            f"resume_from_checkpoint={asked} cannot be resumed exactly: {'; '.join(problems)}"
            + ("" if weights_only else hint)
        )
    return str(asked)


def hub_target(training_args) -> str | None:
    """The Hub repo to push the final output to, or `None`; turns off the Trainer's own pushes.

    The Trainer would push every checkpoint as it is written (without our completion of it); the recipes push the
    finished output once, with the model card, via `addressvlm.training.hub.push_output_to_hub`.
    """
    if not training_args.push_to_hub:
        return None
    if not training_args.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (the namespace/name of the repo to create or update)")
    training_args.push_to_hub = False
    return training_args.hub_model_id


def log_parameter_table(model, parts: TrainableParts, parts_args, training_args, spec) -> list[dict[str, Any]]:
    """Log (main process) and return the table: module group, parameters, trainable parameters, learning rate."""
    rates = param_group_learning_rates(parts_args, training_args.learning_rate)
    rows = parameter_table(model, spec, parts, rates)
    if training_args.should_log:
        logger.info("Trainable parts:\n%s", format_parameter_table(rows))
    return rows


def _hyperparameters(training_args, parts_args, processor, parts: TrainableParts, is_adapter: bool) -> dict[str, Any]:
    world = training_args.world_size
    values: dict[str, Any] = {
        "learning_rate": training_args.learning_rate,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "devices": world,
        "effective_batch_size": training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * world,
        "num_train_epochs": training_args.num_train_epochs,
        "max_steps": training_args.max_steps,
        "warmup": training_args.warmup_steps,
        "lr_scheduler_type": str(getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type)),
        "weight_decay": training_args.weight_decay,
        "adam_betas": f"({training_args.adam_beta1}, {training_args.adam_beta2})",
        "optimizer": str(getattr(training_args.optim, "value", training_args.optim)),
        "precision": "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32",
        "max_text_length": processor.max_text_length,
        "vision / projector / llm": f"{parts.vision} / {parts.projector} / {parts.llm}",
        "seed": training_args.seed,
    }
    if is_adapter:
        values.update(lora_r=parts_args.lora_r, lora_alpha=parts_args.lora_alpha, lora_dropout=parts_args.lora_dropout)
    for name in ("projector_lr", "vision_lr"):
        if getattr(parts_args, name) is not None:
            values[name] = getattr(parts_args, name)
    return values


def build_writer(start, model, stage: str, training_args, parts_args, parts, table, data) -> ArtifactWriter:
    """The `ArtifactWriter` that completes checkpoints and the final output of this run."""
    from peft import PeftModel

    from addressvlm.models import get_backbone

    is_adapter = isinstance(model, PeftModel)
    spec = get_backbone((model.get_base_model() if is_adapter else model).config)
    card = {
        "stage": stage,
        "datasets": data.sources,
        "hyperparameters": _hyperparameters(training_args, parts_args, start.processor, parts, is_adapter),
        "trainable_parts": table,
        "parents": [{"name": p.name, "mode": p.mode} for p in start.parents],
        "is_adapter": is_adapter,
        "repo_id": training_args.hub_model_id,
        "backbone": {
            "name": spec.display_name,
            "tags": list(spec.card_tags),
            "layouts": [(exporter.name, exporter.description) for exporter in spec.exporters],
        },
    }
    return ArtifactWriter(start.base, generation_config_for(model, start.processor), list(start.parents), card)


def build_trainer(model, processor, data, training_args, parts, parts_args, writer, spec):
    """An `AddressVLMTrainer` with the collator, per-group learning rates and the artefact callbacks."""
    import torch

    from .collator import ConversationCollator
    from .trainer import AddressVLMTrainer

    callbacks = [CheckpointArtifactsCallback(writer)]
    frozen = stacked_adapters(model)
    if frozen:
        callbacks.append(
            StackedAdaptersCallback(["default", *frozen], lambda m: set_requires_grad(m, spec, parts, frozen))
        )
    trainer = AddressVLMTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=ConversationCollator(processor, image_root=data.image_root, isolate_turns=data.isolate_turns),
        processing_class=processor,
        callbacks=callbacks,
        group_learning_rates=param_group_learning_rates(parts_args, training_args.learning_rate),
        backbone=spec,
    )
    low = {str(p.dtype) for p in model.parameters() if p.requires_grad and p.dtype in (torch.bfloat16, torch.float16)}
    if low and not trainer.is_deepspeed_enabled:
        logger.warning(
            "Trainable weights are %s and the optimizer keeps no float32 master copy, so small updates (lr 1e-5) "
            "round away: load with --dtype float32 (bf16 autocast still applies) or train under DeepSpeed.",
            "/".join(sorted(low)),
        )
    if trainer.is_deepspeed_enabled and writer.card is not None:
        plugin = trainer.accelerator.state.deepspeed_plugin
        offload = plugin.deepspeed_config.get("zero_optimization", {}).get("offload_optimizer", {}).get("device")
        stage = f"ZeRO-{plugin.zero_stage}" + (
            f", optimizer offload to {offload}" if offload not in (None, "none") else ""
        )
        writer.card["hyperparameters"]["deepspeed"] = stage
    return trainer


def finish_training(trainer, train_result, writer: ArtifactWriter) -> dict[str, float]:
    """Save the final artefacts atomically, then the metrics and trainer state; return the metrics."""
    metrics = dict(train_result.metrics)
    metrics["train_samples"] = len(trainer.train_dataset)
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    card_metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    save_final_artifacts(trainer, writer, card_metrics)
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    return metrics


@dataclass(frozen=True)
class Stage:
    """What tells the two training stages apart.

    Args:
        title (`str`): the stage in logs and the model card, e.g. ``"stage 1 (cross-view alignment tuning)"``.
        dataset_kinds (`tuple[str, ...]`): the dataset kinds it trains on (``build_info.json``'s ``kind``).
        dataset_role (`str`): the training data in error messages, e.g. ``"stage-1 training"``.
        loading (`str`): what the main process loads first, in the wait message of the other processes.
        starts_from_stage (`bool`, *optional*, defaults to `False`): it takes `InitArguments` (``--init_from`` an
            earlier stage's output).
    """

    title: str
    dataset_kinds: tuple[str, ...]
    dataset_role: str
    loading: str
    starts_from_stage: bool = False


def run_stage(stage: Stage, argv: list[str] | None = None):
    """Parse the arguments, load the model (and an earlier stage), train, save and push: one training stage.

    Returns:
        `Trainer`: the finished trainer (its model is the trained one).
    """
    from transformers import set_seed

    from addressvlm.models import get_backbone

    from .arguments import (
        AddressVLMTrainingArguments,
        DataArguments,
        InitArguments,
        ModelArguments,
        TrainablePartsArguments,
    )
    from .data import check_training_datasets, load_training_data
    from .hub import push_output_to_hub
    from .parser import parse_args
    from .stages import load_starting_point
    from .trainable_parts import apply_trainable_parts

    init = (InitArguments,) if stage.starts_from_stage else ()
    parsed = parse_args(
        (ModelArguments, *init, TrainablePartsArguments, DataArguments, AddressVLMTrainingArguments), argv
    )
    model_args, init_args, (parts_args, data_args, training_args) = parsed[0], parsed[1] if init else None, parsed[-3:]
    setup_distributed(training_args)
    setup_logging(training_args)
    resume = checkpoint_to_resume(training_args)
    repo_id = hub_target(training_args)
    check_training_datasets(data_args, stage.dataset_kinds, stage.dataset_role)
    set_seed(training_args.seed)  # LoRA initialisation happens before the Trainer seeds

    # the model: the base, or the base with an earlier stage
    start = load_starting_point(model_args, init_args)
    spec = get_backbone(start.model.config)
    parts = TrainableParts.from_args(parts_args, carried=start.carried_groups, spec=spec)
    model = apply_trainable_parts(start.model, parts, parts_args, spec, training_args.activation_checkpointing)
    table = log_parameter_table(model, parts, parts_args, training_args, spec)

    # the data
    with training_args.main_process_first(desc=stage.loading):
        data = load_training_data(
            data_args,
            start.processor,
            seed=training_args.seed,
            length_column=training_args.length_column_name,
            sampling_strategy=training_args.train_sampling_strategy,
        )

    # train, save, push
    writer = build_writer(start, model, stage.title, training_args, parts_args, parts, table, data)
    trainer = build_trainer(model, start.processor, data, training_args, parts, parts_args, writer, spec)
    train_result = trainer.train(resume_from_checkpoint=resume)
    metrics = finish_training(trainer, train_result, writer)
    if repo_id and trainer.is_world_process_zero():
        push_output_to_hub(training_args.output_dir, repo_id, training_args.hub_private_repo, training_args.hub_token)
    logger.info("Finished %s: %s (train loss %.4f)", stage.title, training_args.output_dir, metrics["train_loss"])
    return trainer


def recipe_functions(stage: Stage):
    """A recipe's ``run(argv)`` (returns the finished `Trainer`) and ``main(argv)`` (runs it as a command: an error
    ends with one line on stderr and exit status 2 for bad input -- config, paths, checkpoints -- or 1;
    ``ADDRESSVLM_DEBUG=1`` also prints the traceback)."""
    from addressvlm.utils.errors import run_command

    def run(argv: list[str] | None = None):
        return run_stage(stage, argv)

    def main(argv: list[str] | None = None) -> int:
        return run_command(run, argv)

    run.__doc__ = f"Run {stage.title}; return the finished `Trainer` (the steps are `run_stage`'s)."
    main.__doc__ = f"Run {stage.title} as a command; return the exit status (2 for bad input, 1 for failures)."
    return run, main
