"""The published ``openbmb/MiniCPM-V-2_6`` layout and ours: the same weights, two ``config.json`` forms.

The state-dict keys are identical (our modules carry the published names: ``vpm.*``, ``resampler.*``, ``llm.model.*``,
``llm.lm_head.*``); only the config differs. The published one is a flat Qwen2 config with the multimodal fields on
top (``model_type: minicpmv``, ``vision_config``, ``query_num``, ``slice_config``, ``auto_map`` into its remote code);
ours nests ``text_config`` and ``vision_config`` (``model_type: minicpmv_native``).
"""

from __future__ import annotations

from typing import Any

from ..loading import DECODER_CONFIG_FIELDS


__all__ = [
    "PUBLISHED_REPO",
    "REMOTE_CODE_FILES",
    "ours_to_published_config",
    "published_to_ours_config",
]

PUBLISHED_REPO = "openbmb/MiniCPM-V-2_6"
"""Where the exported layout's remote code lives; ``auto_map`` entries point there (``repo--module.Class``)."""

REMOTE_CODE_FILES = {
    "AutoConfig": "configuration_minicpm.MiniCPMVConfig",
    "AutoModel": "modeling_minicpmv.MiniCPMV",
    "AutoModelForCausalLM": "modeling_minicpmv.MiniCPMV",
}
_TEXT_FIELDS = (
    *DECODER_CONFIG_FIELDS,
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "attention_dropout",
    "bos_token_id",
    "eos_token_id",
    "tie_word_embeddings",
)
_VISION_FIELDS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_channels",
    "image_size",
    "patch_size",
    "hidden_act",
    "layer_norm_eps",
    "attention_dropout",
)


def published_to_ours_config(published: dict[str, Any], image_token_id: int | None = None):
    """A `MiniCPMVConfig` from the published flat ``config.json`` (as a dict).

    ``drop_vision_last_layer: true`` becomes one vision layer fewer (the published model drops it after building).

    Args:
        published (`dict`): the published config.
        image_token_id (`int`, *optional*): the ``<unk>`` id of the checkpoint's tokenizer.
    """
    from transformers import Qwen2Config
    from transformers.models.idefics2.configuration_idefics2 import Idefics2VisionConfig

    from .configuration_minicpmv import MiniCPMVConfig

    if published.get("model_type") != "minicpmv":
        raise ValueError(f"model_type {published.get('model_type')!r} is not the published MiniCPM-V layout")
    version = str(published.get("version", "2.6"))
    if version != "2.6" or published.get("architectures", ["MiniCPMV"]) != ["MiniCPMV"]:
        raise ValueError(f"Only MiniCPM-V 2.6 (Qwen2) is supported, got version {version}")
    text = {name: published[name] for name in _TEXT_FIELDS if name in published}
    rope = published.get("rope_parameters") or {
        "rope_type": "default",
        "rope_theta": float(published.get("rope_theta", 1000000.0)),
    }
    vision = {name: published["vision_config"][name] for name in _VISION_FIELDS if name in published["vision_config"]}
    if published.get("drop_vision_last_layer", False):
        vision["num_hidden_layers"] = vision["num_hidden_layers"] - 1
    slices = published.get("slice_config") or {}
    kwargs = {} if image_token_id is None else {"image_token_id": image_token_id}
    return MiniCPMVConfig(
        text_config=Qwen2Config(**text, rope_parameters=rope),
        vision_config=Idefics2VisionConfig(**vision),
        query_num=published.get("query_num", 64),
        scale_resolution=slices.get("scale_resolution", published.get("image_size", 448)),
        max_slice_nums=slices.get("max_slice_nums", 9),
        use_image_id=published.get("use_image_id", True),
        vision_batch_size=published.get("vision_batch_size", 16),
        **kwargs,
    )


def ours_to_published_config(config, dtype: str = "bfloat16") -> dict[str, Any]:
    """The published flat ``config.json`` of a `MiniCPMVConfig`, with ``auto_map`` into the published remote code.

    Args:
        config (`MiniCPMVConfig`): ours.
        dtype (`str`, *optional*, defaults to `"bfloat16"`): the weights' dtype, recorded as ``torch_dtype``.
    """
    text = config.text_config.to_dict()
    vision = config.vision_config.to_dict()
    rope = dict(config.text_config.rope_parameters or {})
    out = {name: text[name] for name in _TEXT_FIELDS if name in text}
    out.update(
        {
            "architectures": ["MiniCPMV"],
            "auto_map": {key: f"{PUBLISHED_REPO}--{value}" for key, value in REMOTE_CODE_FILES.items()},
            "model_type": "minicpmv",
            "version": 2.6,
            "rope_theta": rope.get("rope_theta", 1000000.0),
            "rope_scaling": None,
            "use_cache": True,
            "query_num": config.query_num,
            "image_size": config.scale_resolution,
            "patch_size": config.vision_config.patch_size,
            "drop_vision_last_layer": False,
            "batch_vision_input": True,
            "use_image_id": config.use_image_id,
            "vision_batch_size": config.vision_batch_size,
            "slice_mode": True,
            "slice_config": {
                "model_type": "minicpmv",
                "patch_size": config.vision_config.patch_size,
                "max_slice_nums": config.max_slice_nums,
                "scale_resolution": config.scale_resolution,
            },
            "vision_config": {"model_type": "siglip", **{k: vision[k] for k in _VISION_FIELDS if k in vision}},
            "torch_dtype": dtype,
        }
    )
    return out
