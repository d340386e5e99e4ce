"""``addressvlm tiny-model``: the offline tiny checkpoint (``ask`` and ``demo`` live in `addressvlm.demo`)."""

from __future__ import annotations

from dataclasses import dataclass

from addressvlm.utils.options import add_command, option, options_from


__all__ = ["TinyModelOptions", "register"]


@dataclass(kw_only=True)
class TinyModelOptions:
    """Options of ``addressvlm tiny-model`` (the backbone's ``save_tiny``).

    Args:
        output (`str`): folder to write the checkpoint and processor to.
        backbone (`str`, *optional*, defaults to `"llava_phi3"`): registered backbone (llava_phi3, minicpmv; see
            docs/architecture.md).
        overwrite (`bool`, *optional*, defaults to `False`): replace a non-empty ``--output`` folder.
        image_size (`int`, *optional*, defaults to 56): vision input size in pixels, patch 14 (a slice's, when
            sliced).
        seed (`int`, *optional*, defaults to 0): initialisation seed.
        vision_hidden_size (`int`, *optional*, defaults to 32): vision tower hidden size.
        text_hidden_size (`int`, *optional*, defaults to 64): language model hidden size.
        text_layers (`int`, *optional*, defaults to 2): language model decoder layers.
        text_kv_heads (`int`, *optional*, defaults to 2): key/value heads (of 4 query heads).
        layout (`str`, *optional*, defaults to `"ours"`): 'ours' (our classes' save_pretrained) or a published layout
            of the backbone (its tiny_layouts).
        vocab_file (`str`, *optional*): text file whose lines are added to the tokenizer's training corpus (e.g.
            street names).
    """

    output: str = option()
    backbone: str = option("llava_phi3")
    overwrite: bool = option(False)
    image_size: int = option(56)
    seed: int = option(0)
    vision_hidden_size: int = option(32)
    text_hidden_size: int = option(64)
    text_layers: int = option(2)
    text_kv_heads: int = option(2, choices=[1, 2, 4])
    layout: str = option("ours")
    vocab_file: str | None = option(None)


_SIZES = ("vision_hidden_size", "text_hidden_size", "text_layers", "text_kv_heads")


def register(subparsers) -> None:
    add_command(
        subparsers,
        "tiny-model",
        TinyModelOptions,
        _tiny_model,
        help="write a tiny random checkpoint of a backbone (offline; for tests, CPU configs and the quickstart)",
    )


def _tiny_model(args) -> int:
    from pathlib import Path

    from addressvlm.models import get_backbone, list_backbones
    from addressvlm.utils.io import atomic_output_dir, check_not_an_input, check_output_dir

    options = options_from(args, TinyModelOptions)
    if options.backbone not in list_backbones():
        raise ValueError(f"--backbone {options.backbone!r} is not registered; choose one of {list_backbones()}")
    check_output_dir(options.output, options.overwrite)
    check_not_an_input(options.output, [options.vocab_file])
    extra = Path(options.vocab_file).read_text(encoding="utf-8").splitlines() if options.vocab_file else ()
    sizes = {name: getattr(options, name) for name in _SIZES}
    spec = get_backbone(options.backbone)
    if options.layout not in spec.tiny_layouts:
        raise ValueError(f"--layout {options.layout!r}: {options.backbone} writes {list(spec.tiny_layouts)}")
    # written whole or not at all, and never over a non-empty folder (a training run) without --overwrite
    with atomic_output_dir(options.output, overwrite=options.overwrite) as tmp:
        spec.save_tiny(
            tmp, layout=options.layout, image_size=options.image_size, seed=options.seed, extra_texts=extra, **sizes
        )
    print(f"tiny {spec.display_name} checkpoint ({options.layout} layout) written to {options.output}")
    return 0
