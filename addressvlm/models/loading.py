"""Load any registered backbone's checkpoint (ours or a published layout), optionally with a trained adapter.

Which backbone loads a folder is decided by its ``config.json`` ``model_type`` (`addressvlm.models.get_backbone`); the
backbone's own loader does the rest.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path


__all__ = [
    "DECODER_CONFIG_FIELDS",
    "cast_parameters",
    "check_tokenizer_fits",
    "has_saved_processor",
    "load_pretrained",
    "load_safetensors_folder",
    "model_from_state_dict",
    "processor_settings",
    "read_config",
    "resolve_checkpoint_dir",
]

logger = logging.getLogger(__name__)

DECODER_CONFIG_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "initializer_range",
    "rms_norm_eps",
)
"""Decoder config fields that mean the same in Phi-3, Llama and Qwen2 (the backbones' conversions copy them)."""


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
                str(name_or_path), allow_patterns=["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt", "*.py"]
            )
        )
    except Exception as err:  # offline and not cached, or no such repo
        raise FileNotFoundError(
            f"Cannot find checkpoint {name_or_path!r}: not a local folder, and the Hub copy is unavailable ({err}). "
            "Download it first (huggingface-cli download ...) or pass a local path."
        ) from err


def load_safetensors_folder(path: str | os.PathLike) -> dict:
    """All tensors of a safetensors checkpoint folder, sharded (``model.safetensors.index.json``) or not."""
    from safetensors.torch import load_file

    path = Path(path)
    index = path / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (path / "model.safetensors").exists():
        shards = ["model.safetensors"]
    else:
        raise FileNotFoundError(f"No model.safetensors or model.safetensors.index.json in {path}")
    state = {}
    for shard in shards:
        state.update(load_file(path / shard))
    return state


def model_from_state_dict(model_class, config, state: dict, path, attn_implementation=None, torch_dtype=None):
    """A ``model_class(config)`` holding exactly the tensors of ``state`` (a converted published checkpoint).

    Raises:
        `KeyError`: keys missing from ``state`` or not in the model (names the first few and ``path``).
    """
    from accelerate import init_empty_weights

    if attn_implementation:
        config._attn_implementation = attn_implementation
    with init_empty_weights():
        model = model_class(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise KeyError(f"Loading {path}: missing keys {missing[:8]}, unexpected keys {unexpected[:8]}")
    if torch_dtype is not None:
        cast_parameters(model, torch_dtype)
    return model.eval()


def read_config(path: str | os.PathLike) -> dict:
    """The ``config.json`` of a checkpoint folder as a dict (a `FileNotFoundError` names a folder without one)."""
    path = Path(path)
    file = path / "config.json"
    if not file.exists():
        raise FileNotFoundError(f"{path} has no config.json: not a model checkpoint")
    return json.loads(file.read_text())


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
    """Whether ``path`` holds a processor saved by our recipes (a ``processor_config.json`` of a registered backbone's
    processor class)."""
    from .registry import _REGISTRY

    saved = Path(path) / "processor_config.json"
    if not saved.is_file():
        return False
    name = json.loads(saved.read_text()).get("processor_class")
    return name in {spec.processor_class.__name__ for spec in _REGISTRY.values()}


def processor_settings(processor) -> dict:
    """The processor settings a run must keep from training to evaluation, merge and serving.

    Recorded by ``addressvlm eval`` (``eval_settings.json``) and ``probe`` (``probe_counts.json``), so a result says
    how its images were prepared.
    """
    settings = {
        "pad_image_to_square": bool(getattr(processor, "pad_image_to_square", False)),
        "max_text_length": getattr(processor, "max_text_length", None),
    }
    settings.update(getattr(processor, "extra_settings", dict)())  # e.g. a sliced backbone's slice settings
    return settings


def check_tokenizer_fits(tokenizer, vocab_size: int, where="") -> None:
    """Raise if the tokenizer can produce ids the model's embedding matrix does not have."""
    if len(tokenizer) > vocab_size:
        raise ValueError(
            f"The tokenizer{f' of {where}' if where else ''} has {len(tokenizer)} tokens but the model's vocabulary "
            f"has {vocab_size} rows: ids >= {vocab_size} would index past the embeddings. Use the checkpoint's own "
            "tokenizer, or call model.resize_token_embeddings(len(tokenizer)) after adding tokens."
        )


def load_pretrained(name_or_path: str | os.PathLike, adapter: str | os.PathLike | None = None, **kwargs):
    """Load a model and its processor from a checkpoint folder or Hub id, optionally with a trained adapter.

    Args:
        name_or_path (`str`): a checkpoint in any supported layout (see :mod:`addressvlm.models.registry`), or an
            adapter folder written by our recipes (its base model is read from ``adapter_config.json``).
        adapter (`str`, *optional*): an adapter folder to apply on top of ``name_or_path``.
        **kwargs: ``torch_dtype``, ``attn_implementation`` and backbone options (``pad_image_to_square``), passed to
            the backbone loader.

    With an adapter, the processor is the one saved beside it (the settings training used: image padding, text
    length), not the base's; an adapter folder without a saved processor falls back to the base's.

    Returns:
        `tuple(model, processor)`; with an adapter the model is a `peft.PeftModel`.
    """
    from transformers import GenerationConfig

    from .registry import get_backbone

    path = resolve_checkpoint_dir(name_or_path)  # local folder, or the Hub snapshot of a model or adapter repo
    if adapter is None and (path / "adapter_config.json").exists() and not (path / "config.json").exists():
        adapter = path
        name_or_path = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        if not os.path.isabs(name_or_path) and (path / name_or_path).is_dir():  # local bases are stored relative
            name_or_path = path / name_or_path
    base_dir = resolve_checkpoint_dir(name_or_path)
    spec = get_backbone(read_config(base_dir).get("model_type"))
    if adapter is not None:
        adapter_dir = resolve_checkpoint_dir(adapter)
        if has_saved_processor(adapter_dir):
            kwargs.setdefault("processor_path", adapter_dir)
    model, processor = spec.loader(base_dir, **kwargs)
    try:  # the checkpoint's generation settings, stopping at the processor's stop tokens
        model.generation_config = GenerationConfig.from_pretrained(base_dir)
    except OSError:
        pass
    model.generation_config.eos_token_id = processor.stop_token_ids
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    if adapter is not None:
        from .adapters import apply_adapter

        model = apply_adapter(model, adapter)
    return model, processor
