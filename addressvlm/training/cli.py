"""``addressvlm merge``: merge a trained adapter into its base, in our layout or a serving layout of its backbone."""

from __future__ import annotations

import argparse

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


def register(subparsers) -> None:
    """Add the ``merge`` command to the top-level sub-parsers."""
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
