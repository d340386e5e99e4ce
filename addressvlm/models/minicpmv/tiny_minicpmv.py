"""Tiny, deterministic, offline MiniCPM-V models for tests, CPU configs and the quickstart.

The tokenizer is a byte-level BPE trained in memory (Qwen2's pre-tokenizer) on the shared tiny corpus plus any
extra texts, wrapped as a transformers `Qwen2Tokenizer` with MiniCPM-V's special tokens; the model is a random
`MiniCPMVForConditionalGeneration` from a small config under a fixed seed. `save_tiny` writes it in our layout or in
the exact published ``openbmb/MiniCPM-V-2_6`` layout (flat ``config.json``, ``vpm.*`` / ``resampler.*`` / ``llm.*``
keys, the published ``preprocessor_config.json`` names).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import torch

from ..tiny_corpus import TINY_CORPUS


__all__ = [
    "MINICPMV_SPECIAL_TOKENS",
    "build_tiny_minicpmv",
    "make_minicpmv_processor",
    "save_tiny",
    "tiny_minicpmv_config",
    "train_tiny_qwen2_tokenizer",
]

# Qwen2's and MiniCPM-V's special tokens.
MINICPMV_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<unk>",
    "<image>",
    "</image>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
    "<quad>",
    "</quad>",
    "<point>",
    "</point>",
    "<slice>",
    "</slice>",
    "<image_id>",
    "</image_id>",
]


def train_tiny_qwen2_tokenizer(vocab_size: int = 1000, extra_texts: Iterable[str] = ()):
    """A byte-level BPE with Qwen2's pre-tokenization, as a `Qwen2Tokenizer` with MiniCPM-V's special tokens.

    Args:
        vocab_size (`int`, *optional*, defaults to 1000): BPE vocabulary size (special tokens added on top).
        extra_texts (`Iterable[str]`, *optional*): more training text (street and district names).
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken, Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    lines = [line for line in TINY_CORPUS.splitlines() if line.strip()] + [t for t in extra_texts if t.strip()]
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator(lines * 4, trainer=trainer)
    vocab = bpe.get_vocab()
    merges = [tuple(pair) for pair in json.loads(bpe.to_str())["model"]["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token="<unk>", errors="replace")
    tokenizer.add_tokens([AddedToken(token, special=True, normalized=False) for token in MINICPMV_SPECIAL_TOKENS])
    tokenizer.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>"})
    tokenizer.model_max_length = 4096
    return tokenizer


def _round_up(n: int, multiple: int = 64) -> int:
    return (n + multiple - 1) // multiple * multiple


def tiny_minicpmv_config(
    tokenizer,
    vision_hidden_size: int = 32,
    text_hidden_size: int = 64,
    text_layers: int = 2,
    text_kv_heads: int = 2,
    query_num: int = 16,
    image_size: int = 56,
    max_slice_nums: int = 2,
):
    """A tiny `MiniCPMVConfig`: a 2-layer NaViT SigLIP (positions on a 4 x 4 grid, like 980 px on 70 x 70) and a
    Qwen2 with 4 attention heads; slices of about ``image_size``² pixels, at most ``max_slice_nums``."""
    from transformers import Qwen2Config
    from transformers.models.idefics2.configuration_idefics2 import Idefics2VisionConfig

    from .configuration_minicpmv import MiniCPMVConfig

    text = Qwen2Config(
        vocab_size=_round_up(len(tokenizer)),
        hidden_size=text_hidden_size,
        intermediate_size=2 * text_hidden_size,
        num_hidden_layers=text_layers,
        num_attention_heads=4,
        num_key_value_heads=text_kv_heads,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    vision = Idefics2VisionConfig(
        hidden_size=vision_hidden_size,
        intermediate_size=2 * vision_hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=56,
        patch_size=14,
    )
    return MiniCPMVConfig(
        text_config=text,
        vision_config=vision,
        query_num=query_num,
        image_token_id=tokenizer.convert_tokens_to_ids("<unk>"),
        scale_resolution=image_size,
        max_slice_nums=max_slice_nums,
    )


def make_minicpmv_processor(tokenizer, image_size: int = 56, max_slice_nums: int = 2, query_num: int = 16, **kwargs):
    """A `MiniCPMVProcessor` slicing at ``image_size`` px into at most ``max_slice_nums`` slices."""
    from .image_processing_minicpmv import MiniCPMVImageProcessor
    from .processing_minicpmv import MiniCPMVProcessor

    image_processor = MiniCPMVImageProcessor(
        max_slice_nums=max_slice_nums, scale_resolution=image_size, image_feature_size=query_num
    )
    return MiniCPMVProcessor(image_processor=image_processor, tokenizer=tokenizer, **kwargs)


def build_tiny_minicpmv(image_size: int = 56, seed: int = 0, extra_texts: Iterable[str] = (), **sizes):
    """A tiny random `MiniCPMVForConditionalGeneration` and its processor (deterministic for a seed).

    Args:
        image_size (`int`, *optional*, defaults to 56): a slice's side in pixels.
        seed (`int`, *optional*, defaults to 0): the initialisation seed.
        extra_texts (`Iterable[str]`, *optional*): more lines for the tokenizer's corpus (e.g. the city's names).
        sizes: ``vocab_size`` (1000) and the settings of `tiny_minicpmv_config` (``vision_hidden_size``,
            ``text_hidden_size``, ``text_layers``, ``text_kv_heads``, ``query_num``, ``max_slice_nums``).

    Returns:
        `tuple(MiniCPMVForConditionalGeneration, MiniCPMVProcessor)`
    """
    from transformers import GenerationConfig

    from .modeling_minicpmv import MiniCPMVForConditionalGeneration

    tokenizer = train_tiny_qwen2_tokenizer(vocab_size=sizes.pop("vocab_size", 1000), extra_texts=extra_texts)
    config = tiny_minicpmv_config(tokenizer, image_size=image_size, **sizes)
    torch.manual_seed(seed)
    model = MiniCPMVForConditionalGeneration(config).eval()
    processor = make_minicpmv_processor(tokenizer, image_size, config.max_slice_nums, config.query_num)
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=processor.stop_token_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model, processor


def save_tiny(path: str | os.PathLike, layout: str = "ours", **kwargs) -> str:
    """Write a tiny MiniCPM-V checkpoint + processor in ``layout`` (``ours`` or ``minicpmv-hf``, the published
    ``openbmb/MiniCPM-V-2_6`` layout) and return the path.

    Args:
        path (`str`): the folder.
        layout (`str`, *optional*, defaults to `"ours"`): the layout.
        **kwargs: `build_tiny_minicpmv` arguments.
    """
    model, processor = build_tiny_minicpmv(**kwargs)
    if layout == "ours":
        model.save_pretrained(path)
        processor.save_pretrained(path)
    elif layout == "minicpmv-hf":
        from .loading_minicpmv import export_minicpmv_hf

        export_minicpmv_hf(model, processor, path)
    else:
        raise ValueError(f"layout must be ours or minicpmv-hf, got {layout!r}")
    return str(path)
