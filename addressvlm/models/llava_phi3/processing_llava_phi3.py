"""Processor for LLaVA-Phi-3: CLIP preprocessing, the Phi-3 chat format, ``<image>`` expansion and label masks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from transformers import LlavaProcessor

from addressvlm.utils.images import load_rgb

from ..processing_common import IGNORE_INDEX, ChatPromptMixin, new_truncation_stats, truncate_text


__all__ = ["IGNORE_INDEX", "LlavaPhi3Processor", "PHI3_CHAT_TEMPLATE", "image_processor_class"]

logger = logging.getLogger(__name__)

# Phi-3 chat format as in xtuner's ``phi3_chat`` template (no system block when the system prompt is empty):
#   <s><|user|>\n<image>\n{question}<|end|>\n<|assistant|>\n{answer}<|end|>\n
# ``{% generation %}`` marks what is trained: each answer and its <|end|>, not the newline after it.
PHI3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['content'] is string %}{% set parts = [{'type': 'text', 'text': message['content']}] %}"
    "{% else %}{% set parts = message['content'] %}{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' }}{% generation %}"
    "{% for part in parts %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{{ '<|end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% for part in parts %}{% if part['type'] == 'image' %}{{ '<image>\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{{ '<|end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def image_processor_class():
    """The CLIP image processor to use: the torchvision one where torchvision imports, else the PIL one."""
    try:  # torchvision raises RuntimeError (not ImportError) on CPU-only machines with its CUDA wheel.
        import torchvision  # noqa: F401
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor
    except Exception:
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil


def expand_to_square(image: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """Pad an image to a square with ``fill``, keeping it centred (LLaVA's ``expand2square``)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


class LlavaPhi3Processor(ChatPromptMixin, LlavaProcessor):
    r"""
    A [`~transformers.LlavaProcessor`] configured for LLaVA-Phi-3, plus training-side helpers.

    Args:
        image_processor (`CLIPImageProcessor` or `CLIPImageProcessorPil`):
            Resizes and normalises images at the vision tower's size (336 px for CLIP ViT-L/14-336).
        tokenizer (`PreTrainedTokenizerBase`):
            The Phi-3 tokenizer with ``<image>`` added.
        patch_size (`int`, *optional*, defaults to 14):
            Vision patch size; with ``num_additional_image_tokens=1`` and the ``"default"`` strategy, one image
            expands to ``(size // patch_size) ** 2`` tokens.
        vision_feature_select_strategy (`str`, *optional*, defaults to `"default"`):
            Must match the model config.
        chat_template (`str`, *optional*, defaults to `PHI3_CHAT_TEMPLATE`):
            Jinja template of the Phi-3 chat format, with ``{% generation %}`` around trained spans.
        num_additional_image_tokens (`int`, *optional*, defaults to 1):
            CLIP's CLS token.
        pad_image_to_square (`bool`, *optional*, defaults to `False`):
            Pad images to a square with the image processor's mean colour before resizing, instead of centre-cropping.
        max_text_length (`int`, *optional*, defaults to 1472):
            Budget of text tokens per training example (image tokens not counted): 2048 - 576 as in the paper.
            Longer examples are truncated after the image and counted in ``truncation_stats``.
    """

    stop_tokens = ("<|end|>", "<|endoftext|>")
    """Generation ends at ``<|end|>`` (prompt: ``<s><|user|>\\n<image>\\n{question}<|end|>\\n<|assistant|>\\n``)."""

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=None,
        image_token="<image>",
        num_additional_image_tokens=1,
        pad_image_to_square=False,
        max_text_length=1472,
        **kwargs,
    ):
        self.pad_image_to_square = pad_image_to_square
        self.max_text_length = max_text_length
        self.truncation_stats = new_truncation_stats()
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=patch_size,
            vision_feature_select_strategy=vision_feature_select_strategy,
            chat_template=chat_template if chat_template is not None else PHI3_CHAT_TEMPLATE,
            image_token=image_token,
            num_additional_image_tokens=num_additional_image_tokens,
            **kwargs,
        )

    # ------------------------------------------------------------------ images
    image_count_needs_size = False
    """One image always expands to `num_image_tokens` tokens, whatever its size."""

    def image_token_count(self, image_size: tuple[int, int] | None = None) -> int:
        """Tokens one image expands to: `num_image_tokens`, for any ``image_size``."""
        return self.num_image_tokens

    def image_expansion_ids(self, image_size: tuple[int, int] | None = None) -> list[int]:
        """The ids one image's placeholder expands to: `num_image_tokens` ``<image>`` ids, for any size."""
        return [self.image_token_id] * self.num_image_tokens

    def collate_image_inputs(self, examples) -> dict:
        """``{"pixel_values": (n_images, 3, H, W)}`` of the examples that have an image, in order (``{}`` if none)."""
        pixels = [example["pixel_values"] for example in examples if example.get("pixel_values") is not None]
        return {"pixel_values": torch.stack(pixels)} if pixels else {}

    @property
    def num_image_tokens(self) -> int:
        """Image tokens one image expands to, from the image processor's output size."""
        size = self.image_processor.crop_size if self.image_processor.do_center_crop else self.image_processor.size
        height = size.get("height", size.get("shortest_edge"))
        width = size.get("width", size.get("shortest_edge"))
        count = (height // self.patch_size) * (width // self.patch_size) + self.num_additional_image_tokens
        return count - 1 if self.vision_feature_select_strategy == "default" else count

    def prepare_images(self, images):
        """Load paths, convert to RGB and, if configured, pad to a square with the mean colour.

        Accepts one image, a list, or a batch of lists (the structure is kept).
        """
        if images is None:
            return None
        if isinstance(images, (list, tuple)):
            return [self.prepare_images(image) for image in images]
        image = load_rgb(images)
        if not self.pad_image_to_square:
            return image
        return expand_to_square(image, tuple(int(round(255 * m)) for m in self.image_processor.image_mean))

    def __call__(self, images=None, text=None, **kwargs):
        return super().__call__(images=self.prepare_images(images), text=text, **kwargs)

    # ------------------------------------------------------------------ training examples
    def build_training_example(self, conversation: Sequence[dict[str, Any]], image=None) -> dict[str, Any]:
        """Tokenize one (multi-turn) conversation with its image and build the label mask.

        Only assistant answers and their ``<|end|>`` are trained; the prompt, the image tokens and the newline after
        each ``<|end|>`` get ``IGNORE_INDEX``. Text beyond ``max_text_length`` is cut from the end, never through
        the image tokens, and counted in ``truncation_stats``.

        Args:
            conversation (`list[dict]`): ``from``/``value`` turns or chat messages (``role``/``content``), without an
                image placeholder (a legacy ``<image>`` is moved): the image opens the first user turn.
            image (`str`, `PIL.Image.Image`, *optional*): the image, or a path to it.

        Returns:
            `dict` with ``input_ids`` and ``labels`` (1-D `torch.LongTensor`) and ``pixel_values`` (3-D tensor or
            `None`).
        """
        images = None if image is None else self.prepare_images([image])
        out, input_ids, labels = self._tokenize_conversation(conversation, images)
        is_image = input_ids == self.image_token_id
        input_ids, labels = truncate_text(input_ids, labels, is_image, self.max_text_length, self.truncation_stats)
        example = {"input_ids": input_ids, "labels": labels}
        example["pixel_values"] = out["pixel_values"][0] if "pixel_values" in out else None
        return example
