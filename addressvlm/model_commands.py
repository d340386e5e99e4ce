"""``addressvlm tiny-model``: the offline tiny checkpoint (``ask`` and ``demo`` live in `addressvlm.demo`)."""

from __future__ import annotations

import argparse

from addressvlm.utils.errors import cli_command


__all__ = ["register"]


def register(subparsers) -> None:
    tiny = subparsers.add_parser(
        "tiny-model",
        help="write a tiny random checkpoint of a backbone (offline; for tests, CPU configs and the quickstart)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    tiny.add_argument("--output", required=True, help="folder to write the checkpoint and processor to")
    tiny.add_argument(
        "--backbone", default="llava_phi3", help="registered backbone (llava_phi3, minicpmv; see docs/architecture.md)"
    )
    tiny.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    tiny.add_argument(
        "--image-size", type=int, default=56, help="vision input size in pixels, patch 14 (a slice's, when sliced)"
    )
    tiny.add_argument("--seed", type=int, default=0, help="initialisation seed")
    tiny.add_argument("--vision-hidden-size", type=int, default=32, help="vision tower hidden size")
    tiny.add_argument("--text-hidden-size", type=int, default=64, help="language model hidden size")
    tiny.add_argument("--text-layers", type=int, default=2, help="language model decoder layers")
    tiny.add_argument(
        "--text-kv-heads", type=int, default=2, choices=[1, 2, 4], help="key/value heads (of 4 query heads)"
    )
    tiny.add_argument(
        "--layout",
        default="ours",
        help="'ours' (our classes' save_pretrained) or a published layout of the backbone (its tiny_layouts)",
    )
    tiny.add_argument(
        "--vocab-file", help="text file whose lines are added to the tokenizer's training corpus (e.g. street names)"
    )
    tiny.set_defaults(func=_tiny_model)


@cli_command
def _tiny_model(args) -> int:
    from pathlib import Path

    from addressvlm.models import get_backbone, list_backbones
    from addressvlm.utils.io import atomic_output_dir, check_not_an_input, check_output_dir

    if args.backbone not in list_backbones():
        raise ValueError(f"--backbone {args.backbone!r} is not registered; choose one of {list_backbones()}")
    check_output_dir(args.output, args.overwrite)
    check_not_an_input(args.output, [args.vocab_file])
    extra = Path(args.vocab_file).read_text(encoding="utf-8").splitlines() if args.vocab_file else ()
    sizes = dict(
        vision_hidden_size=args.vision_hidden_size,
        text_hidden_size=args.text_hidden_size,
        text_layers=args.text_layers,
        text_kv_heads=args.text_kv_heads,
    )
    spec = get_backbone(args.backbone)
    if args.layout not in spec.tiny_layouts:
        raise ValueError(f"--layout {args.layout!r}: {args.backbone} writes {list(spec.tiny_layouts)}")
    # written whole or not at all, and never over a non-empty folder (a training run) without --overwrite
    with atomic_output_dir(args.output, overwrite=args.overwrite) as tmp:
        spec.save_tiny(tmp, layout=args.layout, image_size=args.image_size, seed=args.seed, extra_texts=extra, **sizes)
    print(f"tiny {spec.display_name} checkpoint ({args.layout} layout) written to {args.output}")
    return 0
