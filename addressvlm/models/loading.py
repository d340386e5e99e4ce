"""Load any supported checkpoint (ours, the public stock layouts, a base + adapter) and export to the stock layout."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path


__all__ = [
    "cast_parameters",
    "check_tokenizer_fits",
    "has_saved_processor",
    "processor_settings",
    "export_llava_hf",
    "load_llava_phi3",
    "load_pretrained",
    "resolve_checkpoint_dir",
]

logger = logging.getLogger(__name__)


def resolve_checkpoint_dir(name_or_path: str | os.PathLike) -> Path:
    """A local folder for a path or Hub id (via the local Hub cache; honours ``HF_HUB_OFFLINE``)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(f"{name_or_path} is a file; expected a checkpoint folder or a Hub id")
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                str(name_or_path), allow_patterns=["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt"]
            )
        )
    except Exception as err:  # offline and not cached, or no such repo
        raise FileNotFoundError(
            f"Cannot find checkpoint {name_or_path!r}: not a local folder, and the Hub copy is unavailable ({err}). "
            "Download it first (huggingface-cli download ...) or pass a local path."
        ) from err


def _read_config(path: Path) -> dict:
    file = path / "config.json"
    if not file.exists():
        raise FileNotFoundError(f"{path} has no config.json: not a model checkpoint")
    return json.loads(file.read_text())


def _processor_for(path: Path, config, pad_image_to_square: bool | None = None):
    """Our processor from a folder: ours if saved by us; else built from the stock tokenizer + image processor."""
    from transformers import AutoImageProcessor, AutoTokenizer

    from .llava_phi3 import LlavaPhi3Processor

    if has_saved_processor(path):
        processor = LlavaPhi3Processor.from_pretrained(path)
    else:  # stock layout: supply what its processor config lacks (patch size, strategy, chat template)
        try:
            from addressvlm.testing import image_processor_class

            image_processor = image_processor_class().from_pretrained(path)
        except Exception:
            image_processor = AutoImageProcessor.from_pretrained(path)
        processor = LlavaPhi3Processor(
            image_processor=image_processor,
            tokenizer=AutoTokenizer.from_pretrained(path),
            patch_size=config.vision_config.patch_size,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
            num_additional_image_tokens=1,
            pad_image_to_square=config.pad_image_to_square,
        )
    if pad_image_to_square is not None:
        processor.pad_image_to_square = pad_image_to_square
    if processor.num_image_tokens != config.image_seq_length:
        raise ValueError(
            f"Processor expands <image> to {processor.num_image_tokens} tokens but the model expects "
            f"{config.image_seq_length}: image processor size and vision config disagree in {path}"
        )
    return processor


def cast_parameters(model, dtype):
    """Cast a model's floating-point *parameters* to ``dtype`` in place and return the model.

    Unlike ``model.to(dtype)`` this leaves buffers alone: rotary ``inv_freq`` tables stay float32, as
    ``from_pretrained``, DeepSpeed and stock transformers / vLLM keep them, so a model trains with the same position
    encoding it is later served with.
    """
    import torch

    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    for parameter in model.parameters():
        if parameter.is_floating_point() and parameter.dtype != dtype:
            parameter.data = parameter.data.to(dtype)
    model.config.dtype = dtype
    return model


def has_saved_processor(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a processor saved by our recipes (a ``processor_config.json`` of our class)."""
    saved = Path(path) / "processor_config.json"
    return saved.is_file() and json.loads(saved.read_text()).get("processor_class") == "LlavaPhi3Processor"


def processor_settings(processor) -> dict:
    """The processor settings a run must keep from training to evaluation, merge and serving.

    Recorded by ``addressvlm eval`` (``eval_settings.json``) and ``probe`` (``probe_counts.json``), so a result says
    how its images were prepared.
    """
    return {
        "pad_image_to_square": bool(getattr(processor, "pad_image_to_square", False)),
        "max_text_length": getattr(processor, "max_text_length", None),
    }


def check_tokenizer_fits(tokenizer, vocab_size: int, where="") -> None:
    """Raise if the tokenizer can produce ids the model's embedding matrix does not have."""
    if len(tokenizer) > vocab_size:
        raise ValueError(
            f"The tokenizer{f' of {where}' if where else ''} has {len(tokenizer)} tokens but the model's vocabulary "
            f"has {vocab_size} rows: ids >= {vocab_size} would index past the embeddings. Use the checkpoint's own "
            "tokenizer, or call model.resize_token_embeddings(len(tokenizer)) after adding tokens."
        )


def load_llava_phi3(
    path: str | os.PathLike,
    torch_dtype=None,
    attn_implementation: str | None = "sdpa",
    processor_path: str | os.PathLike | None = None,
    **kwargs,
):
    """Load a LLaVA-Phi-3 checkpoint in our layout or the stock ``llava-phi-3-mini-hf`` layout (either naming).

    Args:
        path (`str`): the checkpoint folder or Hub id.
        torch_dtype (`torch.dtype`, *optional*): cast the parameters (rotary buffers stay float32).
        attn_implementation (`str`, *optional*, defaults to `"sdpa"`): the attention implementation.
        processor_path (`str`, *optional*): read the processor from this folder instead (a training output's
            saved processor: its ``pad_image_to_square`` and ``max_text_length`` are the ones training used).
        pad_image_to_square (`bool`, *optional*): override the processor's setting.

    Returns:
        `tuple(LlavaPhi3ForConditionalGeneration, LlavaPhi3Processor)`
    """
    from accelerate import init_empty_weights
    from transformers import AutoConfig, GenerationConfig

    from .llava_phi3 import LlavaPhi3ForConditionalGeneration
    from .llava_phi3.conversion_llava_phi3 import (
        llava_config_to_llava_phi3,
        load_state_dict_from_dir,
        stock_to_ours_state_dict,
    )

    path = resolve_checkpoint_dir(path)
    model_type = _read_config(path).get("model_type")
    pad_image_to_square = kwargs.pop("pad_image_to_square", None)
    if model_type == "llava_phi3":
        model = LlavaPhi3ForConditionalGeneration.from_pretrained(
            path, dtype=torch_dtype, attn_implementation=attn_implementation, **kwargs
        )
    elif model_type == "llava":
        stock_config = AutoConfig.from_pretrained(path)
        config = llava_config_to_llava_phi3(stock_config)
        if attn_implementation:
            config._attn_implementation = attn_implementation
        state = stock_to_ours_state_dict(load_state_dict_from_dir(path))
        with init_empty_weights():
            model = LlavaPhi3ForConditionalGeneration(config)
        missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
        if missing or unexpected:
            raise KeyError(f"Converting {path}: missing keys {missing[:8]}, unexpected keys {unexpected[:8]}")
        if torch_dtype is not None:
            cast_parameters(model, torch_dtype)
        model.eval()
    else:
        raise ValueError(f"{path}: model_type {model_type!r} is not a LLaVA-Phi-3 checkpoint")
    processor = _processor_for(Path(processor_path or path), model.config, pad_image_to_square)
    model.config.pad_image_to_square = processor.pad_image_to_square  # one setting, wherever it is read
    check_tokenizer_fits(processor.tokenizer, model.config.text_config.vocab_size, path)
    try:
        model.generation_config = GenerationConfig.from_pretrained(path)
    except OSError:
        pass
    stops = processor.stop_token_ids
    model.generation_config.eos_token_id = stops
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    return model, processor


def load_pretrained(name_or_path: str | os.PathLike, adapter: str | os.PathLike | None = None, **kwargs):
    """Load a model and its processor from a checkpoint folder or Hub id, optionally with a trained adapter.

    Args:
        name_or_path (`str`): a checkpoint in any supported layout (see :mod:`addressvlm.models.registry`), or an
            adapter folder written by our recipes (its base model is read from ``adapter_config.json``).
        adapter (`str`, *optional*): an adapter folder to apply on top of ``name_or_path``.
        **kwargs: ``torch_dtype``, ``attn_implementation``, ``pad_image_to_square``, passed to the backbone loader.

    With an adapter, the processor is the one saved beside it (the settings training used: image padding, text
    length), not the base's; an adapter folder without a saved processor falls back to the base's.

    Returns:
        `tuple(model, processor)`; with an adapter the model is a `peft.PeftModel`.
    """
    from .registry import get_backbone

    path = resolve_checkpoint_dir(name_or_path)  # local folder, or the Hub snapshot of a model or adapter repo
    if adapter is None and (path / "adapter_config.json").exists() and not (path / "config.json").exists():
        adapter = path
        name_or_path = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        if not os.path.isabs(name_or_path) and (path / name_or_path).is_dir():  # local bases are stored relative
            name_or_path = path / name_or_path
    base_dir = resolve_checkpoint_dir(name_or_path)
    spec = get_backbone(_read_config(base_dir).get("model_type"))
    if adapter is not None:
        adapter_dir = resolve_checkpoint_dir(adapter)
        if has_saved_processor(adapter_dir):
            kwargs.setdefault("processor_path", adapter_dir)
    model, processor = spec.loader(base_dir, **kwargs)
    if adapter is not None:
        from addressvlm.training.artifacts import apply_adapter

        model = apply_adapter(model, adapter)
    return model, processor


def export_llava_hf(model, processor, output_dir: str | os.PathLike, legacy: bool = False) -> Path:
    """Write a LlavaPhi3 model in the stock ``LlavaForConditionalGeneration`` layout (Llama-ified Phi-3).

    The result loads in stock transformers (and vLLM) with ``LlavaForConditionalGeneration.from_pretrained`` and
    ``AutoProcessor.from_pretrained``; its processor config carries ``patch_size``,
    ``vision_feature_select_strategy``, ``num_additional_image_tokens`` and the Phi-3 chat template.

    Args:
        model (`LlavaPhi3ForConditionalGeneration`): a plain (merged) model, not a `PeftModel`.
        processor (`LlavaPhi3Processor`): its processor.
        output_dir (`str`): where to write.
        legacy (`bool`, *optional*, defaults to `False`): use the < 4.52 key naming (``language_model.model.*``).
    """
    from safetensors.torch import save_file
    from transformers import LlavaProcessor

    if getattr(processor, "pad_image_to_square", False):
        logger.warning(
            "This model was trained on images padded to a square; the stock LlavaProcessor written to %s centre-crops "
            "instead. Pad images to a square with the mean colour before calling it (or load the export with "
            "addressvlm.models.load_pretrained(..., pad_image_to_square=True)).",
            output_dir,
        )

    from .llava_phi3.conversion_llava_phi3 import llava_phi3_config_to_llava, ours_to_stock_state_dict

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    config = llava_phi3_config_to_llava(model.config)
    config.dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    state = ours_to_stock_state_dict(
        {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, model.config.text_config, legacy
    )
    config.save_pretrained(output_dir)
    save_file(state, str(output_dir / "model.safetensors"), metadata={"format": "pt"})
    model.generation_config.save_pretrained(output_dir)
    LlavaProcessor(
        image_processor=processor.image_processor,
        tokenizer=processor.tokenizer,
        patch_size=processor.patch_size,
        vision_feature_select_strategy=processor.vision_feature_select_strategy,
        num_additional_image_tokens=processor.num_additional_image_tokens,
        chat_template=processor.chat_template,
    ).save_pretrained(output_dir)
    return output_dir
