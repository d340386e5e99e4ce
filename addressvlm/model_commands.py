"""``addressvlm tiny-model``: the offline tiny checkpoint (``ask`` and ``demo`` live in `addressvlm.demo`)."""

from __future__ import annotations

import argparse

from addressvlm.utils.errors import cli_command


__all__ = ["register"]


def register(subparsers) -> None:
    tiny = subparsers.add_parser(
        "tiny-model",
        help="write a tiny random LlavaPhi3 checkpoint (offline; for tests, CPU configs and the quickstart)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    tiny.add_argument("--output", required=True, help="folder to write the checkpoint and processor to")
    tiny.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    tiny.add_argument("--image-size", type=int, default=56, help="vision input size in pixels (patch 14)")
    tiny.add_argument("--seed", type=int, default=0, help="initialisation seed")
    tiny.add_argument("--vision-hidden-size", type=int, default=32, help="CLIP hidden size")
    tiny.add_argument("--text-hidden-size", type=int, default=64, help="Phi-3 hidden size")
    tiny.add_argument("--text-layers", type=int, default=2, help="Phi-3 decoder layers")
    tiny.add_argument(
        "--text-kv-heads", type=int, default=2, choices=[1, 2, 4], help="Phi-3 key/value heads (of 4 query heads)"
    )
    tiny.add_argument(
        "--layout",
        choices=["ours", "llava-hf", "llava-hf-legacy"],
        default="ours",
        help="'ours' (LlavaPhi3, native Phi-3) or the stock xtuner/llava-phi-3-mini-hf layout (current/legacy keys)",
    )
    tiny.add_argument(
        "--vocab-file", help="text file whose lines are added to the tokenizer's training corpus (e.g. street names)"
    )
    tiny.set_defaults(func=_tiny_model)


@cli_command
def _tiny_model(args) -> int:
    from pathlib import Path

    from addressvlm import testing
    from addressvlm.utils.io import atomic_output_dir, check_not_an_input, check_output_dir

    check_output_dir(args.output, args.overwrite)
    check_not_an_input(args.output, [args.vocab_file])
    extra = Path(args.vocab_file).read_text(encoding="utf-8").splitlines() if args.vocab_file else ()
    sizes = dict(
        vision_hidden_size=args.vision_hidden_size,
        text_hidden_size=args.text_hidden_size,
        text_layers=args.text_layers,
        text_kv_heads=args.text_kv_heads,
    )
    # written whole or not at all, and never over a non-empty folder (a training run) without --overwrite
    with atomic_output_dir(args.output, overwrite=args.overwrite) as tmp:
        if args.layout == "ours":
            testing.save_tiny_llava_phi3(tmp, image_size=args.image_size, seed=args.seed, extra_texts=extra, **sizes)
        else:
            layout = "legacy" if args.layout == "llava-hf-legacy" else "current"
            testing.save_tiny_llava_hf(
                tmp, layout=layout, image_size=args.image_size, seed=args.seed, extra_texts=extra, **sizes
            )
    print(f"tiny {args.layout} checkpoint written to {args.output}")
    return 0
