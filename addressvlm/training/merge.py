"""Merge a trained adapter (and the stages it is chained on) into its base: a full checkpoint for serving."""

from __future__ import annotations

import logging
import os
from pathlib import Path


__all__ = ["merge_adapter"]

logger = logging.getLogger(__name__)

_DTYPES = ("float32", "bfloat16", "float16")


def merge_adapter(
    adapter: str | os.PathLike,
    output_dir: str | os.PathLike,
    base: str | None = None,
    layout: str = "addressvlm",
    dtype: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write base + adapter as one full model.

    Args:
        adapter (`str`): a recipe output folder (or checkpoint, or Hub id).
        output_dir (`str`): where to write; replaced atomically.
        base (`str`, *optional*): the base checkpoint; defaults to the one the adapter records.
        layout (`str`, *optional*, defaults to `"addressvlm"`): ``addressvlm`` (our layout: ``save_pretrained`` of
            the backbone's class) or one of the backbone's serving layouts (`BackboneSpec.exporters`, e.g.
            ``llava-hf`` for LLaVA-Phi-3, ``minicpmv-hf`` for MiniCPM-V), chosen by the checkpoint's config.
        dtype (`str`, *optional*): cast the merged weights (``float32``, ``bfloat16``, ``float16``) before writing;
            the merge itself runs in the loaded precision (float32).
        overwrite (`bool`, *optional*, defaults to `False`): replace a non-empty ``output_dir``.

    Returns:
        `Path`: ``output_dir``.
    """
    import torch
    from peft import PeftModel

    from addressvlm.models import get_backbone, load_pretrained
    from addressvlm.utils.io import atomic_output_dir, check_not_an_input, check_output_dir

    from .artifacts import generation_config_for
    from .checkpoints import check_weight_files

    if dtype is not None and dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    check_output_dir(output_dir, overwrite)  # before the model loads
    check_not_an_input(output_dir, [adapter, base])
    for folder in (adapter, base):
        if folder is not None:
            check_weight_files(folder)  # a truncated file named, not a bare SafetensorError
    model, processor = (
        load_pretrained(base, adapter=adapter, torch_dtype=torch.float32)
        if base
        else load_pretrained(adapter, torch_dtype=torch.float32)
    )
    if not isinstance(model, PeftModel):
        raise ValueError(f"{adapter} holds no adapter to merge (a full checkpoint already)")
    exporter = None if layout == "addressvlm" else get_backbone(model.get_base_model().config).exporter(layout)
    generation_config = generation_config_for(model, processor)
    merged = model.merge_and_unload()
    merged.generation_config = generation_config
    if dtype is not None:
        merged = merged.to(getattr(torch, dtype))
    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        if layout == "addressvlm":
            merged.save_pretrained(tmp)
            processor.save_pretrained(tmp)
        else:
            exporter.write(merged, processor, tmp)
    logger.info("Merged %s into %s (%s layout)", adapter, output_dir, layout)
    return Path(output_dir)
