"""``addressvlm train``: run a training recipe of the installed package; ``addressvlm merge``: merge a trained
adapter into its base, in our layout or a serving layout of its backbone."""

from __future__ import annotations

import argparse
import importlib

from addressvlm.utils.errors import cli_command


__all__ = ["register"]


@cli_command
def _merge(args: argparse.Namespace) -> int:
    from .merge import merge_adapter

    merge_adapter(
        args.adapter,
        args.output,
        base=args.base,
        layout=f"{args.layout}-legacy" if args.legacy_keys else args.layout,
        dtype=args.dtype,
        overwrite=args.overwrite,
    )
    print(args.output)
    return 0


def _train(args: argparse.Namespace) -> int:
    """Run ``addressvlm.recipes.<stage>`` with the arguments after the stage (its own errors and exit status)."""
    recipe = importlib.import_module(f"addressvlm.recipes.{args.stage}")
    return recipe.main(list(args.forwarded))


@cli_command
def _configs(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from addressvlm.recipes import DS_CONFIGS_DIR, RECIPES_DIR

    if args.copy is not None:
        targets = {RECIPES_DIR: Path(args.copy) / "recipes", DS_CONFIGS_DIR: Path(args.copy) / "ds_configs"}
        for target in targets.values():
            if target.exists():
                raise FileExistsError(f"{target} exists; --copy writes new recipes/ and ds_configs/ folders")
        skip = shutil.ignore_patterns("__pycache__", "__init__.py", DS_CONFIGS_DIR.name)
        for source, target in targets.items():
            shutil.copytree(source, target, ignore=skip)
            print(target)
        return 0
    if args.name is None:
        for path in sorted(p for p in RECIPES_DIR.rglob("*") if p.suffix in (".yaml", ".json")):
            print(path)
        return 0
    path = RECIPES_DIR / args.name
    if not path.is_file() or RECIPES_DIR not in path.resolve().parents:
        raise FileNotFoundError(
            f"{args.name}: no such file among the shipped recipe files in {RECIPES_DIR} "
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
    configs = stages.add_parser(
        "configs",
        help="print the shipped recipe files (configs, accelerate, DeepSpeed, experiments) or one's path; --copy",
    )
    configs.add_argument("name", nargs="?", help="a file relative to the recipes folder: accelerate/zero2_cpu.yaml")
    configs.add_argument(
        "--copy",
        metavar="DIR",
        default=None,
        help="copy the recipes and configs into DIR/recipes and DIR/ds_configs, laid out as in a checkout, so the "
        "documented `accelerate launch --config_file recipes/accelerate/... recipes/stage1.py --config "
        "recipes/configs/...` commands run from DIR (and the copies can be edited)",
    )
    configs.set_defaults(func=_configs)
    parser.set_defaults(func=lambda args, p=parser: p.print_help() or 2)


def register(subparsers) -> None:
    """Add the ``train`` and ``merge`` commands to the top-level sub-parsers."""
    _register_train(subparsers)
    parser = subparsers.add_parser(
        "merge",
        help="merge a trained adapter into its base model (optionally in a serving layout of its backbone)",
        description=(
            "Load the base recorded by the adapter (or --base), apply the adapter and the earlier stages it is "
            "chained on, merge the LoRA weights and write a full model."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("adapter", help="recipe output folder, checkpoint or Hub id holding adapter_config.json")
    parser.add_argument("--output", required=True, help="folder to write the merged model to")
    parser.add_argument("--base", default=None, help="base checkpoint (default: the one the adapter records)")
    parser.add_argument(
        "--layout",
        default="addressvlm",
        help="addressvlm: our layout (save_pretrained); or a serving layout of the adapter's backbone (its published "
        "layout, which its stock loaders and vLLM read; docs/architecture.md lists them, an unknown name is answered "
        "with the list)",
    )
    parser.add_argument("--legacy-keys", action="store_true", help="the layout's legacy variant (LAYOUT-legacy)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None, help="cast the weights")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    parser.set_defaults(func=_merge)
