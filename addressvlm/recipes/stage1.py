"""Stage 1 of AddressVLM: cross-view alignment tuning on grafted satellite + street-view images.

Trains on a stage-1 set (``addressvlm data build-alignment``, then ``label-alignment``): each row is a grafted
image and a conversation whose answer is the address plus the generated reason. Table 4's "Ours" (the shipped Pitts
and SF configs) trains the projector, the vision encoder in full and a LoRA on the language model.

The paper's setup -- 8x RTX 3090 24 GB, DeepSpeed ZeRO-2, bf16 (see docs/training.md for memory and time)::

    accelerate launch --config_file recipes/accelerate/zero2_8gpu.yaml recipes/stage1.py \\
        --config recipes/configs/llava_phi3/pitts_stage1.yaml

CPU, the tiny offline model and city (minutes; what the quickstart and the tests run)::

    python recipes/stage1.py --config recipes/configs/llava_phi3/tiny_cpu_stage1.yaml \\
        --model_name_or_path runs/tiny-model --dataset_paths runs/city/alignment --output_dir runs/tiny-stage1

From an installed package (no checkout): ``addressvlm train stage1 --config llava_phi3/pitts_stage1.yaml`` (one
process; a ``--config`` that is not a file names a shipped config), or ``addressvlm train configs --copy .`` first,
which lays out ``recipes/`` and ``ds_configs/`` here so that the commands above run as written.

Any YAML key can be overridden on the command line (``--learning_rate 2e-5``); several ``--config`` files are
applied in order (``--config base.yaml --config recipes/configs/llava_phi3/table4/stage1_frozen_ve_frozen_llm.yaml``).
``--resume_from_checkpoint last`` continues an interrupted run; ``--push_to_hub --hub_model_id user/name`` uploads
the finished output with its model card.
"""

from __future__ import annotations

import logging
import sys

from transformers import set_seed

from addressvlm.models import get_backbone
from addressvlm.training.arguments import (
    AddressVLMTrainingArguments,
    DataArguments,
    ModelArguments,
    TrainablePartsArguments,
)
from addressvlm.training.data import check_training_datasets, load_training_data_for
from addressvlm.training.hub import push_output_to_hub
from addressvlm.training.parser import parse_args
from addressvlm.training.recipe import (
    build_trainer,
    build_writer,
    checkpoint_to_resume,
    finish_training,
    hub_target,
    log_parameter_table,
    setup_distributed,
    setup_logging,
)
from addressvlm.training.stages import load_starting_point
from addressvlm.training.trainable_parts import TrainableParts, apply_trainable_parts
from addressvlm.utils.errors import run_command


__all__ = ["main", "run"]

logger = logging.getLogger("addressvlm.recipes.stage1")

STAGE = "stage 1 (cross-view alignment tuning)"


def run(argv: list[str] | None = None):
    """Run the recipe; return the finished `Trainer` (its model is the trained one)."""
    model_args, parts_args, data_args, training_args = parse_args(
        (ModelArguments, TrainablePartsArguments, DataArguments, AddressVLMTrainingArguments), argv
    )
    setup_distributed(training_args)
    setup_logging(training_args)
    resume = checkpoint_to_resume(training_args)
    repo_id = hub_target(training_args)
    check_training_datasets(data_args, ("alignment", "georeasoner"), "stage-1 training")
    set_seed(training_args.seed)  # LoRA initialisation happens before the Trainer seeds

    ###############
    # Load model
    ###############
    start = load_starting_point(model_args)
    spec = get_backbone(start.model.config)
    parts = TrainableParts.from_args(parts_args, spec=spec)
    # Seeded again: under ZeRO-3 the base model is built inside deepspeed.zero.Init, which draws random numbers, so
    # LoRA would start elsewhere than in a single-process run of the same seed (plain loading draws none).
    set_seed(training_args.seed)
    model = apply_trainable_parts(start.model, parts, parts_args, spec, training_args.activation_checkpointing)
    table = log_parameter_table(model, parts, parts_args, training_args, spec)

    ###############
    # Load data
    ###############
    with training_args.main_process_first(desc="loading the stage-1 set"):
        data = load_training_data_for(data_args, start.processor, training_args)

    ###############
    # Train
    ###############
    writer = build_writer(start, model, STAGE, training_args, parts_args, model_args, parts, table, data)
    trainer = build_trainer(model, start.processor, data, training_args, parts, parts_args, writer, spec)
    train_result = trainer.train(resume_from_checkpoint=resume)

    ###############
    # Save and push
    ###############
    metrics = finish_training(trainer, train_result, writer)
    if repo_id and trainer.is_world_process_zero():
        push_output_to_hub(training_args.output_dir, repo_id, training_args.hub_private_repo, training_args.hub_token)
    logger.info("Stage 1 done: %s (train loss %.4f)", training_args.output_dir, metrics["train_loss"])
    return trainer


def main(argv: list[str] | None = None) -> int:
    """Run the recipe as a command: an error ends with one line on stderr and exit status 2 for bad input (config,
    paths, checkpoints) or 1; ``ADDRESSVLM_DEBUG=1`` also prints the traceback."""
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
