"""Conversion between our LLaVA-Phi-3 layout and the stock transformers Llava layout of ``xtuner/llava-phi-3-mini-hf``.

The public checkpoint is a stock ``LlavaForConditionalGeneration`` whose text model is Phi-3 rewritten as Llama:
``qkv_proj`` split into ``q_proj/k_proj/v_proj`` and ``gate_up_proj`` into ``gate_proj/up_proj``. Its keys come in two
namings: legacy (transformers < 4.52: ``language_model.model.*``, ``language_model.lm_head.*``, ``vision_tower.*``,
``multi_modal_projector.*``) and current (``model.language_model.*``, ``lm_head.*``, ``model.vision_tower.*``,
``model.multi_modal_projector.*``). One declarative table, :data:`FUSED_KEYS`, drives both directions; every other key
is identical between our layout and the current stock one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from ..loading import DECODER_CONFIG_FIELDS


__all__ = [
    "FUSED_KEYS",
    "EXPORT_PREFIXES",
    "LEGACY_PREFIXES",
    "llama_text_config_to_phi3",
    "llava_config_to_llava_phi3",
    "llava_phi3_config_to_llava",
    "normalize_legacy_keys",
    "ours_to_stock_state_dict",
    "stock_to_ours_state_dict",
]


@dataclass(frozen=True)
class FusedKey:
    """One fused weight of ours and the stock weights it is made of, concatenated along dim 0 in this order."""

    ours: str
    parts: tuple[str, ...]

    def pattern(self, key: str | None = None) -> re.Pattern:
        """``key`` (default: ``ours``) as a regex whose group ``i`` is the layer."""
        return re.compile("^" + re.escape(key or self.ours).replace(r"\{i\}", r"(?P<i>\d+)") + "$")


_LAYER = "model.language_model.layers.{i}"
FUSED_KEYS: tuple[FusedKey, ...] = (
    FusedKey(
        f"{_LAYER}.self_attn.qkv_proj.weight",
        (
            f"{_LAYER}.self_attn.q_proj.weight",
            f"{_LAYER}.self_attn.k_proj.weight",
            f"{_LAYER}.self_attn.v_proj.weight",
        ),
    ),
    FusedKey(f"{_LAYER}.mlp.gate_up_proj.weight", (f"{_LAYER}.mlp.gate_proj.weight", f"{_LAYER}.mlp.up_proj.weight")),
)

# legacy stock prefix -> current stock prefix (checked in order). Released checkpoints keep CLIP's weights under
# `vision_tower.vision_model.`; transformers 5 names the same parameters without `vision_model.`.
LEGACY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("language_model.lm_head.", "lm_head."),
    ("language_model.model.", "model.language_model."),
    ("vision_tower.vision_model.", "model.vision_tower."),
    ("model.vision_tower.vision_model.", "model.vision_tower."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
)
# what the export writes (stock layout as released): current naming, or legacy with `legacy=True`
EXPORT_PREFIXES: tuple[tuple[str, str, str], ...] = (
    # (ours, current stock, legacy stock)
    ("lm_head.", "lm_head.", "language_model.lm_head."),
    ("model.language_model.", "model.language_model.", "language_model.model."),
    ("model.vision_tower.", "model.vision_tower.vision_model.", "vision_tower.vision_model."),
    ("model.multi_modal_projector.", "model.multi_modal_projector.", "multi_modal_projector."),
)


def normalize_legacy_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename stock Llava keys (legacy or current naming, with or without ``vision_model.``) to ours."""
    out = {}
    for key, value in state_dict.items():
        for old, new in LEGACY_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    return out


def stock_to_ours_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stock Llava (Llama-ified Phi-3, either naming) -> LlavaPhi3: re-fuse q/k/v and gate/up."""
    state = normalize_legacy_keys(state_dict)
    out = {}
    consumed = set()
    for fused in FUSED_KEYS:
        first = fused.pattern(fused.parts[0])
        for key in list(state):
            match = first.match(key)
            if not match:
                continue
            names = [part.format(i=match["i"]) for part in fused.parts]
            missing = [name for name in names if name not in state]
            if missing:
                raise KeyError(f"Cannot fuse {fused.ours.format(i=match['i'])}: missing {missing}")
            out[fused.ours.format(i=match["i"])] = torch.cat([state[name] for name in names], dim=0)
            consumed.update(names)
    out.update({key: value for key, value in state.items() if key not in consumed})
    return out


def ours_to_stock_state_dict(
    state_dict: dict[str, torch.Tensor], text_config, legacy: bool = False
) -> dict[str, torch.Tensor]:
    """LlavaPhi3 -> stock Llava with a Llama text model: split ``qkv_proj`` and ``gate_up_proj``.

    Args:
        state_dict (`dict[str, torch.Tensor]`): our weights.
        text_config (`Phi3Config`): gives the split sizes (heads, key/value heads, head dim).
        legacy (`bool`, *optional*, defaults to `False`): write the < 4.52 key naming.
    """
    head_dim = text_config.hidden_size // text_config.num_attention_heads
    q_size = text_config.num_attention_heads * head_dim
    kv_size = text_config.num_key_value_heads * head_dim
    split_sizes = {FUSED_KEYS[0].ours: [q_size, kv_size, kv_size], FUSED_KEYS[1].ours: None}
    patterns = [(fused, fused.pattern()) for fused in FUSED_KEYS]
    out = {}
    for key, value in state_dict.items():
        for fused, pattern in patterns:
            match = pattern.match(key)
            if match:
                sizes = split_sizes[fused.ours] or [value.shape[0] // len(fused.parts)] * len(fused.parts)
                if sum(sizes) != value.shape[0]:
                    raise ValueError(f"{key}: rows {value.shape[0]} do not split into {sizes}")
                for part, chunk in zip(fused.parts, torch.split(value, sizes, dim=0)):
                    out[part.format(i=match["i"])] = chunk.contiguous()
                break
        else:
            out[key] = value
    renamed = {}
    for key, value in out.items():
        for ours, current, old in EXPORT_PREFIXES:
            if key.startswith(ours):
                key = (old if legacy else current) + key[len(ours) :]
                break
        renamed[key] = value
    return renamed


_TEXT_FIELDS = (
    *DECODER_CONFIG_FIELDS,
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "tie_word_embeddings",
)
"""Text-config fields that mean the same in Phi-3 and Llama."""


def llama_text_config_to_phi3(llama_config):
    """The Phi-3 config equivalent to a Llama-ified Phi-3 text config."""
    from transformers import Phi3Config

    head_dim = getattr(llama_config, "head_dim", None)
    if head_dim not in (None, llama_config.hidden_size // llama_config.num_attention_heads):
        raise ValueError(f"head_dim {head_dim} != hidden_size / num_attention_heads: not a Llama-ified Phi-3")
    if getattr(llama_config, "attention_bias", False) or getattr(llama_config, "mlp_bias", False):
        raise ValueError("Llama config with attention/MLP bias cannot be expressed as Phi-3")
    return Phi3Config(
        **{name: getattr(llama_config, name) for name in _TEXT_FIELDS},
        original_max_position_embeddings=llama_config.max_position_embeddings,
        rope_parameters=dict(llama_config.rope_parameters or {"rope_type": "default", "rope_theta": 10000.0}),
        attention_dropout=float(llama_config.attention_dropout or 0.0),
        sliding_window=None,
    )


def _phi3_text_config_to_llama(phi3_config):
    from transformers import LlamaConfig

    rope = dict(phi3_config.rope_parameters or {})
    if rope.get("rope_type", "default") != "default" or rope.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError(f"Only default full rotary embeddings map to Llama, got {rope}")
    return LlamaConfig(
        **{name: getattr(phi3_config, name) for name in _TEXT_FIELDS},
        rope_parameters={"rope_type": "default", "rope_theta": rope.get("rope_theta", 10000.0)},
        attention_dropout=phi3_config.attention_dropout,
    )


_SHARED_FIELDS = (
    "image_token_index",
    "projector_hidden_act",
    "vision_feature_select_strategy",
    "vision_feature_layer",
    "multimodal_projector_bias",
)


def llava_config_to_llava_phi3(llava_config):
    """A stock `LlavaConfig` (Llama-ified or native Phi-3 text) -> `LlavaPhi3Config`."""
    from .configuration_llava_phi3 import LlavaPhi3Config

    text = llava_config.text_config
    if text.model_type == "llama":
        text = llama_text_config_to_phi3(text)
    elif text.model_type != "phi3":
        raise ValueError(f"Text model {text.model_type!r} is neither a Llama-ified Phi-3 nor Phi-3")
    return LlavaPhi3Config(
        vision_config=llava_config.vision_config,
        text_config=text,
        **{name: getattr(llava_config, name) for name in _SHARED_FIELDS},
    )


def llava_phi3_config_to_llava(config):
    """`LlavaPhi3Config` -> a stock `LlavaConfig` with a Llama text model (the ``llava-phi-3-mini-hf`` layout)."""
    from transformers import LlavaConfig

    stock = LlavaConfig(
        vision_config=config.vision_config,
        text_config=_phi3_text_config_to_llama(config.text_config),
        **{name: getattr(config, name) for name in _SHARED_FIELDS},
    )
    stock.architectures = ["LlavaForConditionalGeneration"]
    return stock
