"""LLaVA-Phi-3: configuration, model, processor, checkpoint conversion, tiny models; registers the backbone.

Importing this subpackage (``import addressvlm.models`` does) registers `LlavaPhi3Config` with the Auto classes and
the ``llava_phi3`` `BackboneSpec` with the registry.
"""

from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

from ..registry import BackboneSpec, Exporter, register_backbone
from .configuration_llava_phi3 import LlavaPhi3Config, num_image_tokens
from .loading_llava_phi3 import export_llava_hf, load_llava_phi3
from .modeling_llava_phi3 import LlavaPhi3ForConditionalGeneration, check_image_inputs
from .processing_llava_phi3 import PHI3_CHAT_TEMPLATE, LlavaPhi3Processor
from .tiny_llava_phi3 import build_tiny_llava_phi3, save_tiny


__all__ = [
    "SPEC",
    "LlavaPhi3Config",
    "LlavaPhi3ForConditionalGeneration",
    "LlavaPhi3Processor",
    "PHI3_CHAT_TEMPLATE",
    "check_image_inputs",
    "export_llava_hf",
    "load_llava_phi3",
    "num_image_tokens",
]

AutoConfig.register("llava_phi3", LlavaPhi3Config, exist_ok=True)
AutoModelForImageTextToText.register(LlavaPhi3Config, LlavaPhi3ForConditionalGeneration, exist_ok=True)
AutoProcessor.register(LlavaPhi3Config, LlavaPhi3Processor, exist_ok=True)

SPEC = BackboneSpec(
    name="llava_phi3",
    display_name="LLaVA-Phi-3-mini",
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
    processor_class=LlavaPhi3Processor,
    build_tiny=build_tiny_llava_phi3,
    save_tiny=save_tiny,
    tiny_layouts=("ours", "llava-hf", "llava-hf-legacy"),
    exporters=(
        Exporter(
            "llava-hf",
            lambda model, processor, output_dir: export_llava_hf(model, processor, output_dir),
            "stock transformers LlavaForConditionalGeneration (Llama-ified Phi-3), served by vLLM",
        ),
        Exporter(
            "llava-hf-legacy",
            lambda model, processor, output_dir: export_llava_hf(model, processor, output_dir, legacy=True),
            "the same with the key naming of transformers < 4.52 (language_model.model.*)",
        ),
    ),
    default_max_text_length=1472,  # Table A1: 2048 - (336 / 14) ** 2
    supports_prefix_cache=True,
    card_tags=("llava", "phi3"),
)
register_backbone(SPEC)
