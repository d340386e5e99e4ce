"""Configuration of MiniCPM-V 2.6 (native): a NaViT-style SigLIP, a 2-D resampler and a Qwen2 language model."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import Qwen2Config
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec
from transformers.models.idefics2.configuration_idefics2 import Idefics2VisionConfig


__all__ = ["MiniCPMVConfig"]

# openbmb/MiniCPM-V-2_6's language model (Qwen2-7B), from its config.json.
_QWEN2_7B = {
    "vocab_size": 151666,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "tie_word_embeddings": False,
}
# Its vision tower: siglip-so400m-14-980-flash-attn2-navit, all 27 layers (drop_vision_last_layer is false).
_SIGLIP_SO400M_NAVIT = {
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "image_size": 980,
    "patch_size": 14,
}


@strict
class MiniCPMVConfig(PreTrainedConfig):
    r"""
    Configuration of [`MiniCPMVForConditionalGeneration`], MiniCPM-V 2.6 rebuilt from transformers' parts. Defaults
    reproduce ``openbmb/MiniCPM-V-2_6``; [`addressvlm.models.minicpmv.conversion_minicpmv`] maps its flat published
    ``config.json`` (``model_type: minicpmv``) to this one and back.

    Args:
        text_config (`dict` or `Qwen2Config`, *optional*, defaults to Qwen2-7B):
            The language model (``llm``).
        vision_config (`dict` or `Idefics2VisionConfig`, *optional*, defaults to SigLIP-400M NaViT at 980 px):
            The vision tower (``vpm``), a NaViT-style SigLIP: any slice size, positions bucketed onto the 70 x 70
            grid of the 980 px pre-training.
        query_num (`int`, *optional*, defaults to 64):
            Learnable queries of the resampler: tokens per image slice.
        image_token_id (`int`, *optional*, defaults to 128244):
            Id of the placeholder (``<unk>``) the processor repeats ``query_num`` times per slice; the resampler's
            outputs replace their embeddings, in order.
        scale_resolution (`int`, *optional*, defaults to 448):
            Slices are about ``scale_resolution``² pixels.
        max_slice_nums (`int`, *optional*, defaults to 9):
            At most this many slices per image, plus the downscaled overview.
        use_image_id (`bool`, *optional*, defaults to `True`):
            ``<image_id>N</image_id>`` precedes image ``N`` of a prompt.
        vision_batch_size (`int`, *optional*, defaults to 16):
            Slices per vision-tower call (a memory bound at inference).
    """

    model_type = "minicpmv_native"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=Qwen2Config, init_kwargs=_QWEN2_7B),
        "vision_config": SubConfigSpec(config_class=Idefics2VisionConfig, init_kwargs=_SIGLIP_SO400M_NAVIT),
    }

    text_config: dict | PreTrainedConfig | None = None
    vision_config: dict | PreTrainedConfig | None = None
    query_num: int = 64
    image_token_id: int = 128244
    scale_resolution: int = 448
    max_slice_nums: int = 9
    use_image_id: bool = True
    vision_batch_size: int = 16
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.text_config.model_type != "qwen2":
            raise ValueError(f"MiniCPMVConfig needs a qwen2 text_config, got {self.text_config.model_type!r}")
        if self.text_config.hidden_size % 128 and self.text_config.hidden_size >= 128:
            raise ValueError("The resampler has hidden_size // 128 heads: hidden_size must be a multiple of 128")

    @property
    def patch_size(self) -> int:
        return self.vision_config.patch_size

    @property
    def resampler_heads(self) -> int:
        """Heads of the resampler's attention: ``hidden_size // 128`` as the published model (1 for tiny models)."""
        return max(1, self.text_config.hidden_size // 128)
