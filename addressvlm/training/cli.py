"""``addressvlm merge``: merge a trained adapter into its base, in our layout or the stock Llava one."""

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
        layout=args.layout,
        legacy_keys=args.legacy_keys,
        dtype=args.dtype,
        overwrite=args.overwrite,
    )
    print(args.output)
    return 0


def register(subparsers) -> None:
    """Add the ``merge`` command to the top-level sub-parsers."""
    parser = subparsers.add_parser(
        "merge",
        help="merge a trained adapter into its base model (optionally in the stock Llava layout)",
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
        choices=("addressvlm", "llava-hf"),
        default="addressvlm",
        help="addressvlm: our LlavaPhi3 layout; llava-hf: stock LlavaForConditionalGeneration for serving (vLLM)",
    )
    parser.add_argument("--legacy-keys", action="store_true", help="llava-hf layout with the < 4.52 key names")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None, help="cast the weights")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    parser.set_defaults(func=_merge)
