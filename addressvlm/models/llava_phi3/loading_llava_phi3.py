"""Loading LLaVA-Phi-3 checkpoints (ours, or ``xtuner/llava-phi-3-mini-hf`` in either key naming) and exporting a
merged model to the stock ``LlavaForConditionalGeneration`` layout."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..loading import (
    check_tokenizer_fits,
    has_saved_processor,
    load_safetensors_folder,
    model_from_state_dict,
    read_config,
    resolve_checkpoint_dir,
)


__all__ = ["export_llava_hf", "load_llava_phi3"]

logger = logging.getLogger(__name__)


def _processor_for(path: Path, config, pad_image_to_square: bool | None = None):
    """Our processor from a folder: ours if saved by us; else built from the stock tokenizer + image processor."""
    from transformers import AutoImageProcessor, AutoTokenizer

    from .processing_llava_phi3 import LlavaPhi3Processor, image_processor_class

    if has_saved_processor(path):
        processor = LlavaPhi3Processor.from_pretrained(path)
    else:  # stock layout: supply what its processor config lacks (patch size, strategy, chat template)
        try:
            image_processor = image_processor_class().from_pretrained(path)
        except Exception:
            image_processor = AutoImageProcessor.from_pretrained(path)
        processor = LlavaPhi3Processor(
            image_processor=image_processor,
            tokenizer=AutoTokenizer.from_pretrained(path),
            patch_size=config.vision_config.patch_size,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
            num_additional_image_tokens=1,
            pad_image_to_square=config.pad_image_to_square,
        )
    if pad_image_to_square is not None:
        processor.pad_image_to_square = pad_image_to_square
    if processor.num_image_tokens != config.image_seq_length:
        raise ValueError(
            f"Processor expands <image> to {processor.num_image_tokens} tokens but the model expects "
            f"{config.image_seq_length}: image processor size and vision config disagree in {path}"
        )
    return processor


def load_llava_phi3(
    path: str | os.PathLike,
    torch_dtype=None,
    attn_implementation: str | None = "sdpa",
    processor_path: str | os.PathLike | None = None,
    **kwargs,
):
    """Load a LLaVA-Phi-3 checkpoint in our layout or the stock ``llava-phi-3-mini-hf`` layout (either naming).

    Args:
        path (`str`): the checkpoint folder or Hub id.
        torch_dtype (`torch.dtype`, *optional*): cast the parameters (rotary buffers stay float32).
        attn_implementation (`str`, *optional*, defaults to `"sdpa"`): the attention implementation.
        processor_path (`str`, *optional*): read the processor from this folder instead (a training output's
            saved processor: its ``pad_image_to_square`` and ``max_text_length`` are the ones training used).
        pad_image_to_square (`bool`, *optional*): override the processor's setting.

    Returns:
        `tuple(LlavaPhi3ForConditionalGeneration, LlavaPhi3Processor)`
    """
    from transformers import AutoConfig

    from .conversion_llava_phi3 import llava_config_to_llava_phi3, stock_to_ours_state_dict
    from .modeling_llava_phi3 import LlavaPhi3ForConditionalGeneration

    path = resolve_checkpoint_dir(path)
    model_type = read_config(path).get("model_type")
    pad_image_to_square = kwargs.pop("pad_image_to_square", None)
    if model_type == "llava_phi3":
        model = LlavaPhi3ForConditionalGeneration.from_pretrained(
            path, dtype=torch_dtype, attn_implementation=attn_implementation, **kwargs
        )
    elif model_type == "llava":
        stock_config = AutoConfig.from_pretrained(path)
        config = llava_config_to_llava_phi3(stock_config)
        state = stock_to_ours_state_dict(load_safetensors_folder(path))
        model = model_from_state_dict(
            LlavaPhi3ForConditionalGeneration, config, state, path, attn_implementation, torch_dtype
        )
    else:
        raise ValueError(f"{path}: model_type {model_type!r} is not a LLaVA-Phi-3 checkpoint")
    processor = _processor_for(Path(processor_path or path), model.config, pad_image_to_square)
    model.config.pad_image_to_square = processor.pad_image_to_square  # one setting, wherever it is read
    check_tokenizer_fits(processor.tokenizer, model.config.text_config.vocab_size, path)
    return model, processor


def export_llava_hf(model, processor, output_dir: str | os.PathLike, legacy: bool = False) -> Path:
    """Write a LlavaPhi3 model in the stock ``LlavaForConditionalGeneration`` layout (Llama-ified Phi-3).

    The result loads in stock transformers (and vLLM) with ``LlavaForConditionalGeneration.from_pretrained`` and
    ``AutoProcessor.from_pretrained``; its processor config carries ``patch_size``,
    ``vision_feature_select_strategy``, ``num_additional_image_tokens`` and the Phi-3 chat template.

    Args:
        model (`LlavaPhi3ForConditionalGeneration`): a plain (merged) model, not a `PeftModel`.
        processor (`LlavaPhi3Processor`): its processor.
        output_dir (`str`): where to write.
        legacy (`bool`, *optional*, defaults to `False`): use the < 4.52 key naming (``language_model.model.*``).
    """
    from safetensors.torch import save_file
    from transformers import LlavaProcessor

    if getattr(processor, "pad_image_to_square", False):
        logger.warning(
            "This model was trained on images padded to a square; the stock LlavaProcessor written to %s centre-crops "
            "instead. Pad images to a square with the mean colour before calling it (or load the export with "
            "addressvlm.models.load_pretrained(..., pad_image_to_square=True)).",
            output_dir,
        )

    from .conversion_llava_phi3 import llava_phi3_config_to_llava, ours_to_stock_state_dict

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    config = llava_phi3_config_to_llava(model.config)
    config.dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    state = ours_to_stock_state_dict(
        {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, model.config.text_config, legacy
    )
    config.save_pretrained(output_dir)
    save_file(state, str(output_dir / "model.safetensors"), metadata={"format": "pt"})
    model.generation_config.save_pretrained(output_dir)
    LlavaProcessor(
        image_processor=processor.image_processor,
        tokenizer=processor.tokenizer,
        patch_size=processor.patch_size,
        vision_feature_select_strategy=processor.vision_feature_select_strategy,
        num_additional_image_tokens=processor.num_additional_image_tokens,
        chat_template=processor.chat_template,
    ).save_pretrained(output_dir)
    return output_dir
