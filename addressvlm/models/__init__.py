"""Model families behind one interface: configs, models, processors, loaders, and the backbone registry."""

from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

from .llava_phi3 import (
    LlavaPhi3Config,
    LlavaPhi3ForConditionalGeneration,
    LlavaPhi3Processor,
    check_image_inputs,
    num_image_tokens,
)
from .loading import (
    cast_parameters,
    export_llava_hf,
    load_llava_phi3,
    load_pretrained,
    processor_settings,
    resolve_checkpoint_dir,
)
from .registry import BackboneSpec, get_backbone, list_backbones, register_backbone


__all__ = [
    "BackboneSpec",
    "LlavaPhi3Config",
    "LlavaPhi3ForConditionalGeneration",
    "LlavaPhi3Processor",
    "cast_parameters",
    "check_image_inputs",
    "export_llava_hf",
    "get_backbone",
    "list_backbones",
    "load_llava_phi3",
    "load_pretrained",
    "num_image_tokens",
    "processor_settings",
    "register_backbone",
    "resolve_checkpoint_dir",
]

# Auto classes: `AutoModelForImageTextToText.from_pretrained(dir)` returns our class once addressvlm is imported.
AutoConfig.register("llava_phi3", LlavaPhi3Config, exist_ok=True)
AutoModelForImageTextToText.register(LlavaPhi3Config, LlavaPhi3ForConditionalGeneration, exist_ok=True)
AutoProcessor.register(LlavaPhi3Config, LlavaPhi3Processor, exist_ok=True)

register_backbone(
    BackboneSpec(
        name="llava_phi3",
        model_types=("llava_phi3", "llava"),
        module_groups={
            "vision": "model.vision_tower",
            "projector": "model.multi_modal_projector",
            "llm": "model.language_model",
            "lm_head": "lm_head",
        },
        lora_target_modules=r".*language_model\..*\.(qkv_proj|o_proj|gate_up_proj|down_proj)",
        vision_lora_target_modules=r".*vision_tower\..*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)",
        loader=load_llava_phi3,
        stop_tokens=("<|end|>", "<|endoftext|>"),
    )
)
