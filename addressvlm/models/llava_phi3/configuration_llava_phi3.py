"""Configuration of LLaVA-Phi-3: a CLIP vision tower, a 2-layer GELU MLP projector and a native Phi-3 LLM."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import LlavaConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.models.auto.configuration_auto import AutoConfig


__all__ = ["LlavaPhi3Config", "num_image_tokens"]

# Phi-3-mini-4k-instruct's text model, i.e. the LLM of ``xtuner/llava-phi-3-mini-hf``.
_PHI3_MINI = {
    "vocab_size": 32064,
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "max_position_embeddings": 4096,
    "original_max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "bos_token_id": 1,
    "eos_token_id": 32000,
    "pad_token_id": 32000,
}


def num_image_tokens(vision_config, vision_feature_select_strategy: str = "default") -> int:
    """Number of image tokens one image becomes, derived from the vision config.

    A ViT at ``image_size`` with ``patch_size`` yields ``(image_size // patch_size) ** 2`` patch tokens plus a CLS
    token; the ``"default"`` strategy drops the CLS token (CLIP ViT-L/14 at 336 px: 24 x 24 = 576).
    """
    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    return patches if vision_feature_select_strategy == "default" else patches + 1


@strict
class LlavaPhi3Config(LlavaConfig):
    r"""
    Configuration of [`LlavaPhi3ForConditionalGeneration`]. It is a [`~transformers.LlavaConfig`] whose text model
    is a native Phi-3 (fused ``qkv_proj`` and ``gate_up_proj``) instead of Llama. Defaults reproduce
    LLaVA-Phi-3-mini (CLIP ViT-L/14-336 + Phi-3-mini-4k-instruct, ``<image>`` = 32038).

    Args:
        vision_config (`dict` or `PreTrainedConfig`, *optional*, defaults to CLIP ViT-L/14 at 336 px):
            Configuration of the vision tower.
        text_config (`dict` or `PreTrainedConfig`, *optional*, defaults to Phi-3-mini):
            Configuration of the language model (model type ``phi3``).
        image_token_index (`int`, *optional*, defaults to 32038):
            Id of the ``<image>`` placeholder token; the processor repeats it once per image feature.
        image_seq_length (`int`, *optional*):
            Image tokens per image. Derived from the vision config (``num_image_tokens``) and overwritten if given
            inconsistently.
        projector_hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation between the two projector layers.
        vision_feature_select_strategy (`str`, *optional*, defaults to `"default"`):
            ``"default"`` drops the CLS token, ``"full"`` keeps it.
        vision_feature_layer (`int`, *optional*, defaults to -2):
            Hidden layer of the vision tower whose features are projected (the penultimate one).
        pad_image_to_square (`bool`, *optional*, defaults to `False`):
            Recorded for the processor: pad images to a square with the mean colour before resizing (LLaVA /
            xtuner fine-tuning convention) instead of centre-cropping.
    """

    model_type = "llava_phi3"
    sub_configs_defaults = {
        **LlavaConfig.sub_configs_defaults,
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="phi3", init_kwargs=_PHI3_MINI),
    }

    image_token_index: int = 32038
    pad_image_to_square: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.text_config.model_type != "phi3":
            raise ValueError(
                f"LlavaPhi3Config needs a phi3 text_config, got model_type={self.text_config.model_type!r}; "
                "load Llama-ified checkpoints (xtuner/llava-phi-3-mini-hf) with addressvlm.models.load_pretrained, "
                "which re-fuses q/k/v and gate/up."
            )
        self.image_seq_length = num_image_tokens(self.vision_config, self.vision_feature_select_strategy)
