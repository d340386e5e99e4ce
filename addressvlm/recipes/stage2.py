"""Stage 2 of AddressVLM: address localization tuning on street-view VQA, starting from stage 1.

Trains on the VQA set's ``train`` split (``addressvlm data build-vqa``): street-view images with multi-turn
district / street questions. ``--init_from`` names the stage-1 output: its LoRA is merged into the base
(``--init_mode merge``, default) or kept as a frozen adapter under the new one (``--init_mode stack``, GeoReasoner
style), and its trained projector and vision encoder are carried over. Without ``--init_from`` this is the paper's
"stage 2 only" baseline.

The paper's setup -- 8x RTX 3090 24 GB, DeepSpeed ZeRO-2, bf16 (see docs/training.md for memory and time)::

    accelerate launch --config_file recipes/accelerate/zero2_8gpu.yaml recipes/stage2.py \\
        --config recipes/configs/llava_phi3/pitts_stage2.yaml   # init_from: runs/pitts_llava_phi3_stage1

CPU, the tiny offline model and city (minutes; what the quickstart and the tests run)::

    python recipes/stage2.py --config recipes/configs/llava_phi3/tiny_cpu_stage2.yaml \\
        --init_from runs/tiny-stage1 --dataset_paths runs/city/vqa --output_dir runs/tiny-stage2

From an installed package (no checkout): ``addressvlm train stage2 --config llava_phi3/pitts_stage2.yaml`` (one
process; a ``--config`` that is not a file names a shipped config), or ``addressvlm train configs --copy .`` first,
which lays out ``recipes/`` and ``ds_configs/`` here so that the commands above run as written.

Any YAML key can be overridden on the command line; ``--resume_from_checkpoint last`` continues an interrupted run;
``--push_to_hub --hub_model_id user/name`` uploads the finished output (with the stage-1 adapter it builds on).
"""

from __future__ import annotations

import sys

from addressvlm.training.recipe import Stage, recipe_functions


__all__ = ["STAGE", "main", "run"]

STAGE = Stage(
    title="stage 2 (address localization tuning)",
    dataset_kinds=("vqa",),
    dataset_role="stage-2 training",
    loading="loading the VQA set",
    starts_from_stage=True,
)


run, main = recipe_functions(STAGE)


if __name__ == "__main__":
    sys.exit(main())
