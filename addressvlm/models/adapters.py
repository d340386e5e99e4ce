"""Loading trained adapters back: single ones, and chains of stages (merged or stacked earlier stages).

A stage-2 output records the stage it was chained on in ``adapter_chain.json``: under ``parents/<name>/`` an adapter
that was merged into the base before training (``init_mode=merge``), or PEFT's ``<name>/`` sub-adapter kept stacked
and frozen (``init_mode=stack``). `apply_adapter` replays the chain, then loads the adapter itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .loading import resolve_checkpoint_dir


__all__ = [
    "ADAPTER_CHAIN_FILE",
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "PARENTS_DIR",
    "apply_adapter",
    "read_adapter_chain",
    "resolve_base_model",
    "stack_adapter",
]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CHAIN_FILE = "adapter_chain.json"
PARENTS_DIR = "parents"
_PEFT_PREFIX = "base_model.model."


def resolve_base_model(adapter_dir: str | os.PathLike) -> str:
    """The base recorded in ``adapter_dir/adapter_config.json``: a relative path is resolved against
    ``adapter_dir`` (then the working directory), anything else is returned as is (a Hub id)."""
    adapter_dir = Path(adapter_dir)
    config_file = adapter_dir / ADAPTER_CONFIG
    if not config_file.is_file():
        raise FileNotFoundError(f"{adapter_dir} has no {ADAPTER_CONFIG}: not an adapter folder")
    value = json.loads(config_file.read_text())["base_model_name_or_path"]
    if not value:
        raise ValueError(f"{config_file} records no base_model_name_or_path; pass the base model explicitly")
    if not os.path.isabs(value) and (adapter_dir / value).is_dir():
        return str((adapter_dir / value).resolve())
    return value


def read_adapter_chain(adapter_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The earlier stages recorded in ``adapter_chain.json`` (``[]`` for a single-stage adapter)."""
    file = Path(adapter_dir) / ADAPTER_CHAIN_FILE
    if not file.is_file():
        return []
    parents = json.loads(file.read_text()).get("parents", [])
    for parent in parents:
        if parent.get("mode") not in ("merge", "stack") or not parent.get("path") or not parent.get("name"):
            raise ValueError(f"{file}: malformed parent entry {parent}")
    return parents


def _load_full_weights(model, weights: dict) -> None:
    """Copy saved ``modules_to_save`` weights (PEFT key names) into the plain modules of ``model``."""
    state = {key.removeprefix(_PEFT_PREFIX): value for key, value in weights.items()}
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise KeyError(f"Saved full weights do not match the model: {result.unexpected_keys[:8]}")


def _apply_parents(model, adapter_dir: Path):
    """Replay the chain of ``adapter_dir``; return the model and the names of stacked (frozen) adapters."""
    from peft import PeftModel

    stacked: list[str] = []
    for parent in read_adapter_chain(adapter_dir):
        parent_dir = adapter_dir / parent["path"]
        if parent["mode"] == "merge":
            if isinstance(model, PeftModel):
                raise ValueError(f"{adapter_dir}: a merged parent cannot follow a stacked one")
            model = apply_adapter(model, parent_dir).merge_and_unload()
        else:
            model = stack_adapter(model, parent_dir, parent["name"])
            stacked.append(parent["name"])
    return model, stacked


def stack_adapter(model, adapter_dir: str | os.PathLike, adapter_name: str):
    """Add a saved adapter as a frozen, always-active LoRA under the one that comes next (``init_mode=stack``).

    Its full weights (``modules_to_save``: projector, trained vision encoder) are written into the base modules,
    so the next adapter starts from them; only its LoRA factors stay a separate adapter.

    Returns:
        `peft.PeftModel` with ``adapter_name`` loaded and frozen.
    """
    from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    adapter_dir = resolve_checkpoint_dir(adapter_dir)
    model, stacked = _apply_parents(model, adapter_dir)
    weights = load_file(str(adapter_dir / ADAPTER_WEIGHTS))
    full = {key: value for key, value in weights.items() if ".lora_" not in key}
    lora = {key: value for key, value in weights.items() if ".lora_" in key}
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    if full:
        _load_full_weights(base, full)
    config = LoraConfig.from_pretrained(str(adapter_dir))
    config.modules_to_save = None
    config.inference_mode = True
    config.base_model_name_or_path = None  # the base is the model passed in
    if isinstance(model, PeftModel):
        model.add_adapter(adapter_name, config)
    else:
        model = get_peft_model(model, config, adapter_name=adapter_name)
    result = set_peft_model_state_dict(model, lora, adapter_name=adapter_name)
    missing = [key for key in result.missing_keys if ".lora_" in key and f".{adapter_name}." in key]
    if missing:
        raise KeyError(f"{adapter_dir}: LoRA weights missing for {missing[:4]}")
    model.base_model.set_adapter([*stacked, adapter_name])
    for name, param in model.named_parameters():
        if f".{adapter_name}." in name:
            param.requires_grad = False
    return model


def apply_adapter(model, adapter: str | os.PathLike, adapter_name: str = "default", is_trainable: bool = False):
    """Put a trained adapter (and the earlier stages it was chained on) on a loaded base model.

    This is what `addressvlm.models.load_pretrained(base, adapter=...)` calls.

    Args:
        model (`PreTrainedModel`): the base model the adapter was trained on.
        adapter (`str` or `os.PathLike`): an output folder (or checkpoint) of our recipes, or a Hub id.
        adapter_name (`str`, *optional*, defaults to `"default"`): name of the loaded adapter.
        is_trainable (`bool`, *optional*, defaults to `False`): load it trainable (else frozen, inference mode).

    Returns:
        `peft.PeftModel`: the adapter (with any stacked earlier stages) active on ``model``.
    """
    from peft import PeftModel

    adapter_dir = resolve_checkpoint_dir(adapter)
    if not (adapter_dir / ADAPTER_CONFIG).is_file():
        raise FileNotFoundError(
            f"{adapter}: no {ADAPTER_CONFIG}. A full-model output (config.json) loads directly with "
            "addressvlm.models.load_pretrained(path)."
        )
    model, stacked = _apply_parents(model, adapter_dir)
    if isinstance(model, PeftModel):
        model.load_adapter(str(adapter_dir), adapter_name, is_trainable=is_trainable)
        model.base_model.set_adapter([adapter_name, *stacked])
        for name, param in model.named_parameters():
            if not is_trainable or any(f".{frozen}." in name for frozen in stacked):
                param.requires_grad = False
    else:
        model = PeftModel.from_pretrained(
            model, str(adapter_dir), adapter_name=adapter_name, is_trainable=is_trainable
        )
    return model
