"""Tiny, deterministic, offline LLaVA-Phi-3 models for tests, CPU configs and the quickstart.

Nothing here touches the network: the tokenizer is a SentencePiece BPE trained in memory on a small built-in corpus
(plus any extra texts, e.g. the offline city's street names), converted to a transformers tokenizer with the
Phi-3 chat special tokens and ``<image>``; the models are randomly initialised from small configs under a fixed seed
and saved with ``save_pretrained`` in exactly the layouts of the real checkpoints:

* :func:`save_tiny_llava_phi3` -- our layout (``LlavaPhi3ForConditionalGeneration``, native Phi-3).
* :func:`save_tiny_llava_hf` -- the ``xtuner/llava-phi-3-mini-hf`` layout (stock ``LlavaForConditionalGeneration``
  with a Llama-ified Phi-3, q/k/v and gate/up split), in the legacy (< 4.52) or current key naming, with a
  processor config that lacks ``patch_size``, ``vision_feature_select_strategy`` and a chat template.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch

from ..tiny_corpus import TINY_CORPUS
from .processing_llava_phi3 import image_processor_class as _image_processor_class


__all__ = [
    "CHAT_SPECIAL_TOKENS",
    "build_tiny_llava_phi3",
    "full_size_llava_phi3_config",
    "make_llava_phi3_processor",
    "save_tiny",
    "save_tiny_llava_hf",
    "save_tiny_llava_phi3",
    "tiny_llava_phi3_config",
    "train_tiny_tokenizer",
]

# Phi-3's chat tokens, then LLaVA's additions, in the order they hold in the real vocabulary.
CHAT_SPECIAL_TOKENS = ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>", "<image>", "<pad>"]

# (legacy, current) key prefixes of stock Llava checkpoints.
_STOCK_PREFIXES = (
    ("language_model.lm_head.", "lm_head."),
    ("language_model.model.", "model.language_model."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
)


def train_tiny_tokenizer(vocab_size: int = 1000, extra_texts: Iterable[str] = (), save_dir: str | None = None):
    """Train a byte-fallback SentencePiece BPE and return it as a transformers Llama tokenizer.

    Args:
        vocab_size (`int`, *optional*, defaults to 1000):
            Target size of the SentencePiece vocabulary (before the chat special tokens are added).
        extra_texts (`Iterable[str]`, *optional*):
            More training text, e.g. street and district names, so they tokenize into few pieces.
        save_dir (`str`, *optional*):
            Where to save the tokenizer. Without it the tokenizer is only kept in memory (the temporary folder it
            passes through is removed).
    """
    import sentencepiece as spm
    from transformers import AutoTokenizer, LlamaTokenizer

    lines = [line for line in TINY_CORPUS.splitlines() if line.strip()] + [t for t in extra_texts if t.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines * 4),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        num_threads=1,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tokenizer.model").write_bytes(model.getvalue())
        tokenizer = LlamaTokenizer.from_pretrained(tmp)
    tokenizer.add_special_tokens({"additional_special_tokens": CHAT_SPECIAL_TOKENS})
    tokenizer.pad_token = "<pad>"
    tokenizer.eos_token = "<|endoftext|>"  # as Phi-3's tokenizer; answers end with <|end|>
    tokenizer.model_max_length = 2048
    if save_dir is not None:
        tokenizer.save_pretrained(save_dir)
        return AutoTokenizer.from_pretrained(save_dir)
    # the reloaded fast tokenizer lives in memory: nothing is left behind in the temporary folder
    with tempfile.TemporaryDirectory(prefix="addressvlm-tok-") as tmp:
        tokenizer.save_pretrained(tmp)
        return AutoTokenizer.from_pretrained(tmp)


def _round_up(n: int, multiple: int = 64) -> int:
    return (n + multiple - 1) // multiple * multiple


def _vision_config(image_size: int, hidden_size: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=14,
        projection_dim=hidden_size,
    )


def _text_kwargs(tokenizer, hidden_size: int, num_layers: int, kv_heads: int = 2) -> dict:
    return dict(
        vocab_size=_round_up(len(tokenizer)),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,  # 2: grouped-query attention, so fused qkv splits into unequal parts
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


def tiny_llava_phi3_config(
    tokenizer,
    image_size: int = 56,
    vision_hidden_size: int = 32,
    text_hidden_size: int = 64,
    text_layers: int = 2,
    text_kv_heads: int = 2,
):
    """A tiny [`LlavaPhi3Config`]: 2-layer CLIP at ``image_size`` px / patch 14 and a Phi-3 with 4 attention heads.

    ``text_kv_heads`` 2 (the default) is grouped-query attention, which exercises the unequal split of the fused
    ``qkv_proj``; 4 is plain multi-head attention, as Phi-3-mini itself (32 query and 32 key/value heads).
    """
    from transformers import Phi3Config

    from .configuration_llava_phi3 import LlavaPhi3Config

    return LlavaPhi3Config(
        vision_config=_vision_config(image_size, vision_hidden_size),
        text_config=Phi3Config(**_text_kwargs(tokenizer, text_hidden_size, text_layers, text_kv_heads)),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
    )


def full_size_llava_phi3_config(tokenizer, text_layers: int = 32, vision_layers: int = 24):
    """The real LLaVA-Phi-3-mini architecture (``xtuner/llava-phi-3-mini-hf``'s config values), for random-weight
    dry runs without a download: CLIP ViT-L/14-336 (303.5M), the 1024 -> 3072 -> 3072 GELU projector and Phi-3-mini
    (3.72B + 98.5M LM head, vocabulary 32064, multi-head attention, 4k context).

    Args:
        tokenizer (`PreTrainedTokenizerBase`): supplies the special-token ids (the tiny tokenizer's ids all lie
            inside the 32064-row vocabulary).
        text_layers (`int`, *optional*, defaults to 32): Phi-3 decoder layers (fewer for a cheaper, scaled run).
        vision_layers (`int`, *optional*, defaults to 24): CLIP encoder layers.
    """
    from .configuration_llava_phi3 import LlavaPhi3Config

    config = LlavaPhi3Config(image_token_index=tokenizer.convert_tokens_to_ids("<image>"))  # defaults: the real one
    config.text_config.num_hidden_layers = text_layers
    config.vision_config.num_hidden_layers = vision_layers
    config.text_config.bos_token_id = tokenizer.bos_token_id
    config.text_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config.text_config.pad_token_id = tokenizer.pad_token_id
    return config


def make_llava_phi3_processor(tokenizer, image_size: int, pad_image_to_square: bool = False, max_text_length=1472):
    """A [`LlavaPhi3Processor`] with a CLIP image processor at ``image_size``."""
    from .processing_llava_phi3 import LlavaPhi3Processor

    image_processor = _image_processor_class()(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return LlavaPhi3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        pad_image_to_square=pad_image_to_square,
        max_text_length=max_text_length,
    )


def build_tiny_llava_phi3(
    image_size: int = 56,
    seed: int = 0,
    extra_texts: Iterable[str] = (),
    vision_hidden_size: int = 32,
    text_hidden_size: int = 64,
    text_layers: int = 2,
    vocab_size: int = 1000,
    text_kv_heads: int = 2,
):
    """Build a tiny random `LlavaPhi3ForConditionalGeneration` and its processor (deterministic for a seed).

    Returns:
        `tuple(LlavaPhi3ForConditionalGeneration, LlavaPhi3Processor)`
    """
    from transformers import GenerationConfig

    from .modeling_llava_phi3 import LlavaPhi3ForConditionalGeneration

    tokenizer = train_tiny_tokenizer(vocab_size=vocab_size, extra_texts=extra_texts)
    config = tiny_llava_phi3_config(
        tokenizer, image_size, vision_hidden_size, text_hidden_size, text_layers, text_kv_heads
    )
    torch.manual_seed(seed)
    model = LlavaPhi3ForConditionalGeneration(config).eval()
    processor = make_llava_phi3_processor(tokenizer, image_size)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=processor.stop_token_ids, pad_token_id=tokenizer.pad_token_id
    )
    return model, processor


def save_tiny_llava_phi3(path: str | os.PathLike, image_size: int = 56, seed: int = 0, **kwargs) -> str:
    """Save a tiny random LlavaPhi3 checkpoint + processor to ``path`` (our layout) and return the path."""
    model, processor = build_tiny_llava_phi3(image_size=image_size, seed=seed, **kwargs)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


def save_tiny_llava_hf(
    path: str | os.PathLike, layout: str = "legacy", image_size: int = 56, seed: int = 0, **kwargs
) -> str:
    """Save a tiny stock `LlavaForConditionalGeneration` in the ``xtuner/llava-phi-3-mini-hf`` layout.

    The text model is a Llama (Phi-3 with q/k/v and gate/up split), keys are written in the ``legacy`` layout
    (``language_model.model.*``, ``language_model.lm_head``, ``vision_tower.vision_model.*``,
    ``multi_modal_projector.*``) or the ``current`` one (``model.language_model.*``, ``lm_head``,
    ``model.vision_tower.vision_model.*``, ...); the processor config lacks ``patch_size``,
    ``vision_feature_select_strategy`` and a chat template, as the real one does.
    """
    from safetensors.torch import load_file, save_file
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    if layout not in ("legacy", "current"):
        raise ValueError(f"layout must be 'legacy' or 'current', got {layout!r}")
    tokenizer = train_tiny_tokenizer(
        vocab_size=kwargs.pop("vocab_size", 1000), extra_texts=kwargs.pop("extra_texts", ())
    )
    text_kwargs = _text_kwargs(
        tokenizer, kwargs.pop("text_hidden_size", 64), kwargs.pop("text_layers", 2), kwargs.pop("text_kv_heads", 2)
    )
    config = LlavaConfig(
        vision_config=_vision_config(image_size, kwargs.pop("vision_hidden_size", 32)),
        text_config=LlamaConfig(**text_kwargs, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
    )
    if kwargs:
        raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(path)
    image_processor = make_llava_phi3_processor(tokenizer, image_size).image_processor
    LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    # The real processor_config.json lacks these; drop what save_pretrained wrote.
    config_file = Path(path, "processor_config.json")
    if config_file.exists():
        data = json.loads(config_file.read_text())
        for key in ("patch_size", "vision_feature_select_strategy", "num_additional_image_tokens"):
            data.pop(key, None)
        config_file.write_text(json.dumps(data, indent=2))
    for name in ("chat_template.jinja", "chat_template.json"):
        Path(path, name).unlink(missing_ok=True)
    # Rewrite the keys explicitly (transformers may save either naming), independently of addressvlm's key map.
    weights = Path(path, "model.safetensors")
    state = load_file(weights)
    renamed = {}
    for key, value in state.items():
        for legacy_prefix, current_prefix in _STOCK_PREFIXES:
            if key.startswith(current_prefix) or key.startswith(legacy_prefix):
                rest = key[len(current_prefix) :] if key.startswith(current_prefix) else key[len(legacy_prefix) :]
                key = (legacy_prefix if layout == "legacy" else current_prefix) + rest
                break
        # CLIPVisionModel's weights sit under `vision_model.` in every released checkpoint (transformers 4.x).
        for tower in ("vision_tower.", "model.vision_tower."):
            if key.startswith(tower) and not key.startswith(tower + "vision_model."):
                key = tower + "vision_model." + key[len(tower) :]
        renamed[key] = value
    save_file(renamed, weights, metadata={"format": "pt"})
    return str(path)


def save_tiny(path: str | os.PathLike, layout: str = "ours", **kwargs) -> str:
    """Write a tiny checkpoint in ``layout``: ``ours``, ``llava-hf`` or ``llava-hf-legacy`` (see the module docstring).

    Args:
        path (`str`): the folder.
        layout (`str`, *optional*, defaults to `"ours"`): the key layout.
        **kwargs: ``image_size``, ``seed``, ``extra_texts``, ``vision_hidden_size``, ``text_hidden_size``,
            ``text_layers``, ``text_kv_heads``, ``vocab_size``.
    """
    if layout == "ours":
        return save_tiny_llava_phi3(path, **kwargs)
    if layout in ("llava-hf", "llava-hf-legacy"):
        return save_tiny_llava_hf(path, layout="legacy" if layout.endswith("legacy") else "current", **kwargs)
    raise ValueError(f"layout must be ours, llava-hf or llava-hf-legacy, got {layout!r}")
