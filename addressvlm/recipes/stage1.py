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

import sys

from addressvlm.training.recipe import Stage, recipe_functions


__all__ = ["STAGE", "main", "run"]

STAGE = Stage(
    title="stage 1 (cross-view alignment tuning)",
    dataset_kinds=("alignment", "georeasoner"),
    dataset_role="stage-1 training",
    loading="loading the stage-1 set",
)


run, main = recipe_functions(STAGE)


if __name__ == "__main__":
    sys.exit(main())
