"""``addressvlm train``: run a training recipe of the installed package; ``addressvlm merge``: merge a trained
adapter into its base, in our layout or a serving layout of its backbone."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass

from addressvlm.utils.options import add_command, option, options_from


__all__ = ["ConfigsOptions", "MergeOptions", "register"]


@dataclass(kw_only=True)
class MergeOptions:
    """Options of ``addressvlm merge`` (`merge_adapter`).

    Args:
        adapter (`str`): recipe output folder, checkpoint or Hub id holding adapter_config.json.
        output (`str`): folder to write the merged model to.
        base (`str`, *optional*): base checkpoint (default: the one the adapter records).
        layout (`str`, *optional*, defaults to `"addressvlm"`): addressvlm: our layout (save_pretrained); or a
            serving layout of the adapter's backbone (its published layout, which its stock loaders and vLLM read;
            docs/architecture.md lists them, an unknown name is answered with the list).
        legacy_keys (`bool`, *optional*, defaults to `False`): the layout's legacy variant (LAYOUT-legacy).
        dtype (`str`, *optional*): cast the weights.
        overwrite (`bool`, *optional*, defaults to `False`): replace a non-empty ``--output`` folder.
    """

    adapter: str = option(positional=True)
    output: str = option()
    base: str | None = option(None)
    layout: str = option("addressvlm")
    legacy_keys: bool = option(False)
    dtype: str | None = option(None, choices=("float32", "bfloat16", "float16"))
    overwrite: bool = option(False)


def _merge(args: argparse.Namespace) -> int:
    from .merge import merge_adapter

    options = options_from(args, MergeOptions)
    merge_adapter(
        options.adapter,
        options.output,
        base=options.base,
        layout=f"{options.layout}-legacy" if options.legacy_keys else options.layout,
        dtype=options.dtype,
        overwrite=options.overwrite,
    )
    print(options.output)
    return 0


def _train(args: argparse.Namespace) -> int:
    """Run ``addressvlm.recipes.<stage>`` with the arguments after the stage (its own errors and exit status)."""
    recipe = importlib.import_module(f"addressvlm.recipes.{args.stage}")
    return recipe.main(list(args.forwarded))


@dataclass(kw_only=True)
class ConfigsOptions:
    """Options of ``addressvlm train configs``.

    Args:
        name (`str`, *optional*): a file relative to the recipes folder: accelerate/zero2_cpu.yaml.
        copy (`str`, *optional*): copy the recipes and configs into DIR/recipes and DIR/ds_configs, laid out as in a
            checkout, so the documented ``accelerate launch --config_file recipes/accelerate/... recipes/stage1.py
            --config recipes/configs/...`` commands run from DIR (and the copies can be edited).
    """

    name: str | None = option(None, positional=True)
    copy: str | None = option(None, metavar="DIR")


def _configs(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from addressvlm.recipes import DS_CONFIGS_DIR, RECIPES_DIR

    options = options_from(args, ConfigsOptions)
    if options.copy is not None:
        targets = {RECIPES_DIR: Path(options.copy) / "recipes", DS_CONFIGS_DIR: Path(options.copy) / "ds_configs"}
        for target in targets.values():
            if target.exists():
                raise FileExistsError(f"{target} exists; --copy writes new recipes/ and ds_configs/ folders")
        skip = shutil.ignore_patterns("__pycache__", "__init__.py", DS_CONFIGS_DIR.name)
        for source, target in targets.items():
            shutil.copytree(source, target, ignore=skip)
            print(target)
        return 0
    if options.name is None:
        for path in sorted(p for p in RECIPES_DIR.rglob("*") if p.suffix in (".yaml", ".json")):
            print(path)
        return 0
    path = RECIPES_DIR / options.name
    if not path.is_file() or RECIPES_DIR not in path.resolve().parents:
        raise FileNotFoundError(
            f"{options.name}: no such file among the shipped recipe files in {RECIPES_DIR} "
            "(`addressvlm train configs` lists them)"
        )
    print(path)
    return 0


def _register_train(subparsers) -> None:
    from addressvlm.recipes import STAGES

    parser = subparsers.add_parser(
        "train",
        help="run a training recipe (stage1, stage2) with its shipped configs",
        description=(
            "Run a recipe of the installed package in this process: `addressvlm train stage1 --config "
            "llava_phi3/tiny_cpu_stage1.yaml --output_dir runs/s1 ...`. Every argument after the stage goes to the "
            "recipe (`addressvlm train stage1 --help` lists them); a --config that is not a file names a shipped "
            "config. Several processes: `accelerate launch -m addressvlm.recipes.stage1 ...`."
        ),
    )
    stages = parser.add_subparsers(dest="stage", metavar="STAGE")
    for stage in STAGES:
        recipe = stages.add_parser(
            stage, add_help=False, help=f"the {stage} recipe (addressvlm/recipes/{stage}.py); arguments: its own"
        )
        recipe.set_defaults(func=_train, forwarded=[], forwards_unknown_args=True)
    add_command(
        stages,
        "configs",
        ConfigsOptions,
        _configs,
        help="print the shipped recipe files (configs, accelerate, DeepSpeed, experiments) or one's path; --copy",
    )
    parser.set_defaults(func=lambda args, p=parser: p.print_help() or 2)


def register(subparsers) -> None:
    """Add the ``train`` and ``merge`` commands to the top-level sub-parsers."""
    _register_train(subparsers)
    add_command(
        subparsers,
        "merge",
        MergeOptions,
        _merge,
        help="merge a trained adapter into its base model (optionally in a serving layout of its backbone)",
        description=(
            "Load the base recorded by the adapter (or --base), apply the adapter and the earlier stages it is "
            "chained on, merge the LoRA weights and write a full model."
        ),
    )
