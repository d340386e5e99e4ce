"""The training recipes and their configs, shipped inside the package.

- ``stage1.py`` / ``stage2.py``: the two stages, each a readable script with ``run(argv)`` and ``main(argv)``;
- ``configs/<backbone>/*.yaml``: their configurations (the paper's runs, Table 4's variants, tiny CPU ones);
- ``accelerate/*.yaml``: `accelerate launch` configurations (DeepSpeed ZeRO-2/3, one GPU, CPU);
- ``experiments/*.yaml``: ``addressvlm experiment`` grids.

From an installation: ``addressvlm train stage1 --config llava_phi3/pitts_stage1.yaml`` (a ``--config`` that is not a
file is looked up under ``configs/``), ``python -m addressvlm.recipes.stage1`` or ``accelerate launch -m
addressvlm.recipes.stage1``; ``addressvlm train configs`` prints where the files are. A checkout links this folder as
``recipes/``, so ``accelerate launch recipes/stage1.py --config recipes/configs/llava_phi3/pitts_stage1.yaml`` runs
the same files.
"""

from pathlib import Path


__all__ = ["ACCELERATE_DIR", "CONFIGS_DIR", "EXPERIMENTS_DIR", "RECIPES_DIR", "STAGES"]

RECIPES_DIR = Path(__file__).resolve().parent
"""This folder."""

CONFIGS_DIR = RECIPES_DIR / "configs"
"""The recipe configs, one folder per backbone."""

ACCELERATE_DIR = RECIPES_DIR / "accelerate"
"""The `accelerate launch --config_file` files."""

EXPERIMENTS_DIR = RECIPES_DIR / "experiments"
"""The ``addressvlm experiment`` grids."""

STAGES = ("stage1", "stage2")
"""The recipe modules: ``addressvlm.recipes.<stage>``."""
