"""Loading MiniCPM-V 2.6 checkpoints (ours, or the published ``openbmb/MiniCPM-V-2_6`` layout, without its remote
code) and exporting a merged model back to the published layout."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .. import loading


__all__ = ["export_minicpmv_hf", "load_minicpmv", "published_processor"]

logger = logging.getLogger(__name__)

_PROCESSOR_REMOTE = {
    "AutoProcessor": "processing_minicpmv.MiniCPMVProcessor",
    "AutoImageProcessor": "image_processing_minicpmv.MiniCPMVImageProcessor",
}
_TOKENIZER_REMOTE = "tokenization_minicpmv_fast.MiniCPMVTokenizerFast"


def published_processor(path: Path, max_text_length: int | None = None):
    """Our processor from a published folder: its tokenizer files (read as a `Qwen2Tokenizer`, no remote code) and
    its ``preprocessor_config.json``."""
    from transformers import Qwen2Tokenizer

    from .image_processing_minicpmv import MiniCPMVImageProcessor
    from .processing_minicpmv import MiniCPMVProcessor

    settings = json.loads((path / "preprocessor_config.json").read_text())
    known = ("max_slice_nums", "scale_resolution", "patch_size", "norm_mean", "norm_std", "slice_mode")
    image_processor = MiniCPMVImageProcessor(
        **{k: settings[k] for k in known if k in settings},
        image_feature_size=settings.get("image_feature_size", 64),
        use_image_id=settings.get("use_image_id", True),
    )
    tokenizer = Qwen2Tokenizer.from_pretrained(path)
    kwargs = {} if max_text_length is None else {"max_text_length": max_text_length}
    return MiniCPMVProcessor(image_processor=image_processor, tokenizer=tokenizer, **kwargs)


def load_minicpmv(
    path: str | os.PathLike, torch_dtype=None, attn_implementation="sdpa", processor_path=None, **kwargs
):
    """Load a MiniCPM-V 2.6 checkpoint in our layout or the published one (the `BackboneSpec.loader` interface:
    ``path`` a folder or Hub id, ``torch_dtype`` casts, ``processor_path`` a training output's processor, whose
    settings are the ones training used).

    Returns:
        `tuple(MiniCPMVForConditionalGeneration, MiniCPMVProcessor)`

    Raises:
        `KeyError`: a published checkpoint whose keys do not match the architecture (names the first few).
    """
    from .conversion_minicpmv import published_to_ours_config
    from .modeling_minicpmv import MiniCPMVForConditionalGeneration
    from .processing_minicpmv import MiniCPMVProcessor

    unexpected_options = sorted(set(kwargs) - {"pad_image_to_square"})
    if unexpected_options:
        raise TypeError(f"MiniCPM-V loader: unexpected option(s) {unexpected_options}")
    if kwargs.get("pad_image_to_square"):
        raise ValueError("pad_image_to_square does not apply to MiniCPM-V, which slices images at their own shape")
    path = loading.resolve_checkpoint_dir(path)
    model_type = loading.read_config(path).get("model_type")
    source = Path(processor_path or path)
    if loading.has_saved_processor(source):
        processor = MiniCPMVProcessor.from_pretrained(source)
    elif (source / "preprocessor_config.json").exists():
        processor = published_processor(source)
    else:
        raise FileNotFoundError(f"{source} has no processor files (processor_config.json or preprocessor_config.json)")
    if model_type == "minicpmv_native":
        model = MiniCPMVForConditionalGeneration.from_pretrained(
            path, dtype=torch_dtype, attn_implementation=attn_implementation
        )
    elif model_type == "minicpmv":
        config = published_to_ours_config(loading.read_config(path), processor.feature_token_id)
        state = loading.load_safetensors_folder(path)
        model = loading.model_from_state_dict(
            MiniCPMVForConditionalGeneration, config, state, path, attn_implementation, torch_dtype
        )
    else:
        raise ValueError(f"{path}: model_type {model_type!r} is not a MiniCPM-V 2.6 checkpoint")
    if model.config.image_token_id != processor.feature_token_id:
        raise ValueError(
            f"The model's image token id {model.config.image_token_id} is not the tokenizer's <unk> "
            f"({processor.feature_token_id}) in {path}"
        )
    if model.config.query_num != processor.image_processor.image_feature_size:
        raise ValueError(
            f"The processor expands each slice to {processor.image_processor.image_feature_size} tokens but the "
            f"model's resampler gives {model.config.query_num} in {path}"
        )
    loading.check_tokenizer_fits(processor.tokenizer, model.config.text_config.vocab_size, path)
    return model, processor


def export_minicpmv_hf(model, processor, output_dir: str | os.PathLike) -> Path:
    """Write a MiniCPM-V model in the published ``openbmb/MiniCPM-V-2_6`` layout.

    The weights keep their names (``vpm.*``, ``resampler.*``, ``llm.*``); ``config.json`` is the published flat
    form, and ``config.json``, ``preprocessor_config.json`` and ``tokenizer_config.json`` point their ``auto_map``
    at the published remote code (``openbmb/MiniCPM-V-2_6--modeling_minicpmv.MiniCPMV`` ...), so
    ``AutoModel.from_pretrained(dir, trust_remote_code=True)`` and vLLM serve the result. Our loader reads it back.

    Args:
        model (`MiniCPMVForConditionalGeneration`): a plain (merged) model.
        processor (`MiniCPMVProcessor`): its processor.
        output_dir (`str`): where to write.
    """
    from safetensors.torch import save_file

    from .conversion_minicpmv import PUBLISHED_REPO, ours_to_published_config

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    (output_dir / "config.json").write_text(json.dumps(ours_to_published_config(model.config, dtype), indent=2))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(output_dir / "model.safetensors"), metadata={"format": "pt"})
    model.generation_config.save_pretrained(output_dir)
    processor.tokenizer.save_pretrained(output_dir)
    tokenizer_config = output_dir / "tokenizer_config.json"
    data = json.loads(tokenizer_config.read_text())
    data["tokenizer_class"] = "MiniCPMVTokenizerFast"
    data["auto_map"] = {"AutoTokenizer": [None, f"{PUBLISHED_REPO}--{_TOKENIZER_REMOTE}"]}
    data["chat_template"] = processor.chat_template
    tokenizer_config.write_text(json.dumps(data, indent=2))
    image = processor.image_processor
    preprocessor = {
        "image_processor_type": "MiniCPMVImageProcessor",
        "processor_class": "MiniCPMVProcessor",
        "auto_map": {key: f"{PUBLISHED_REPO}--{value}" for key, value in _PROCESSOR_REMOTE.items()},
        "max_slice_nums": image.max_slice_nums,
        "scale_resolution": image.scale_resolution,
        "patch_size": image.patch_size,
        "use_image_id": image.use_image_id,
        "image_feature_size": image.image_feature_size,
        "im_start": "<image>",
        "im_end": "</image>",
        "slice_start": "<slice>",
        "slice_end": "</slice>",
        "unk": "<unk>",
        "im_id_start": "<image_id>",
        "im_id_end": "</image_id>",
        "slice_mode": image.slice_mode,
        "norm_mean": list(image.norm_mean),
        "norm_std": list(image.norm_std),
        "version": 2.6,
    }
    (output_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    return output_dir
