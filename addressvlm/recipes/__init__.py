"""The training recipes and their configs, shipped inside the package.

- ``stage1.py`` / ``stage2.py``: the two stages, each a script with its launch commands,
  ``run(argv)`` and ``main(argv)``
  (the steps are `addressvlm.training.recipe.run_stage`'s, in order);
- ``configs/<backbone>/*.yaml``: their configurations (the paper's runs, Table 4's variants, tiny CPU ones);
- ``accelerate/*.yaml``: `accelerate launch` configurations (DeepSpeed ZeRO-2/3, one GPU, CPU);
- ``ds_configs/*.json``: the DeepSpeed configurations those name (``ds_configs/zero2.json``, relative to the folder
  the launch runs in);
- ``experiments/*.yaml``: ``addressvlm experiment`` grids.

From an installation: ``addressvlm train stage1 --config llava_phi3/pitts_stage1.yaml`` (a ``--config`` that is not a
file is looked up under ``configs/``), ``python -m addressvlm.recipes.stage1`` or ``accelerate launch -m
addressvlm.recipes.stage1``. ``addressvlm train configs`` prints where the files are; ``addressvlm train configs --copy
DIR`` lays them out in DIR as in a checkout (``recipes/``, ``ds_configs/``), to edit and launch from DIR. A checkout
links this folder as ``recipes/`` (and ``ds_configs/`` as ``ds_configs``), so ``accelerate launch --config_file
recipes/accelerate/zero2_8gpu.yaml recipes/stage1.py --config recipes/configs/llava_phi3/pitts_stage1.yaml`` runs the
same files.
"""

from pathlib import Path


__all__ = ["ACCELERATE_DIR", "CONFIGS_DIR", "DS_CONFIGS_DIR", "EXPERIMENTS_DIR", "RECIPES_DIR", "STAGES"]

RECIPES_DIR = Path(__file__).resolve().parent
"""This folder."""

CONFIGS_DIR = RECIPES_DIR / "configs"
"""The recipe configs, one folder per backbone."""

ACCELERATE_DIR = RECIPES_DIR / "accelerate"
"""The `accelerate launch --config_file` files."""

DS_CONFIGS_DIR = RECIPES_DIR / "ds_configs"
"""The DeepSpeed JSON files of the accelerate configs (and of ``--deepspeed``)."""

EXPERIMENTS_DIR = RECIPES_DIR / "experiments"
"""The ``addressvlm experiment`` grids."""

STAGES = ("stage1", "stage2")
"""The recipe modules: ``addressvlm.recipes.<stage>``."""
