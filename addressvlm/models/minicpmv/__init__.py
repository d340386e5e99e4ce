"""MiniCPM-V 2.6, native: configuration, model, resampler, processor, checkpoint layouts, tiny models; registers the
backbone.

Importing this subpackage (``import addressvlm.models`` does) registers `MiniCPMVConfig` with the Auto classes and
the ``minicpmv`` `BackboneSpec` with the registry. No remote code is used: the published ``openbmb/MiniCPM-V-2_6``
weights load into `MiniCPMVForConditionalGeneration` as they are.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor

from ..registry import BackboneSpec, Exporter, register_backbone
from .configuration_minicpmv import MiniCPMVConfig
from .image_processing_minicpmv import MiniCPMVImageProcessor
from .loading_minicpmv import export_minicpmv_hf, load_minicpmv
from .modeling_minicpmv import MiniCPMVForConditionalGeneration
from .processing_minicpmv import MiniCPMVProcessor
from .resampler_minicpmv import MiniCPMVResampler
from .tiny_minicpmv import build_tiny_minicpmv, save_tiny


__all__ = [
    "SPEC",
    "MiniCPMVConfig",
    "MiniCPMVForConditionalGeneration",
    "MiniCPMVImageProcessor",
    "MiniCPMVProcessor",
    "MiniCPMVResampler",
    "export_minicpmv_hf",
    "load_minicpmv",
]

AutoConfig.register("minicpmv_native", MiniCPMVConfig, exist_ok=True)
AutoModelForImageTextToText.register(MiniCPMVConfig, MiniCPMVForConditionalGeneration, exist_ok=True)
AutoImageProcessor.register(MiniCPMVConfig, slow_image_processor_class=MiniCPMVImageProcessor, exist_ok=True)
AutoProcessor.register(MiniCPMVConfig, MiniCPMVProcessor, exist_ok=True)

SPEC = BackboneSpec(
    name="minicpmv",
    display_name="MiniCPM-V 2.6",
    model_types=("minicpmv_native", "minicpmv"),
    module_groups={
        "vision": "vpm",
        "projector": "resampler",
        "llm": "llm.model",
        "lm_head": "llm.lm_head",
    },
    # MiniCPM-V's own LoRA fine-tuning (finetune_lora.sh): the LLM's attention projections.
    lora_target_modules=r"llm\.model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    vision_lora_target_modules=r"vpm\.encoder\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|out_proj)|mlp\.(fc1|fc2))",
    loader=load_minicpmv,
    processor_class=MiniCPMVProcessor,
    build_tiny=build_tiny_minicpmv,
    save_tiny=save_tiny,
    tiny_layouts=("ours", "minicpmv-hf"),
    exporters=(
        Exporter(
            "minicpmv-hf",
            export_minicpmv_hf,
            "the published openbmb/MiniCPM-V-2_6 layout (its remote code with trust_remote_code, and vLLM)",
        ),
    ),
    default_max_text_length=1408,  # 2048 (MiniCPM-V's training length) - 10 slices x 64 queries
    supports_prefix_cache=True,  # each image's own prefix (ImagePrefix), ragged lengths in one batch
    card_tags=("minicpm-v", "qwen2"),
)
register_backbone(SPEC)
