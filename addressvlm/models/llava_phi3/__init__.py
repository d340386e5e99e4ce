"""LLaVA-Phi-3: configuration, model, processor and checkpoint conversion."""

from .configuration_llava_phi3 import LlavaPhi3Config, num_image_tokens
from .modeling_llava_phi3 import LlavaPhi3ForConditionalGeneration, check_image_inputs
from .processing_llava_phi3 import PHI3_CHAT_TEMPLATE, LlavaPhi3Processor


__all__ = [
    "LlavaPhi3Config",
    "LlavaPhi3ForConditionalGeneration",
    "LlavaPhi3Processor",
    "PHI3_CHAT_TEMPLATE",
    "check_image_inputs",
    "num_image_tokens",
]
