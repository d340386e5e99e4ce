"""Processor for MiniCPM-V 2.6: slicing, the ChatML chat format, the slice layout of each image, label masks.

An image becomes, in the text (``use_image_id``, a ``cols x rows`` grid, ``Q`` = ``query_num`` tokens per slice)::

    <image_id>0</image_id><image><unk>*Q</image>            # the overview
    <slice><unk>*Q</slice> ... (cols per row)                # the slices, row by row,
    \\n<slice><unk>*Q</slice> ...                             # rows joined by newlines

exactly as the published ``MiniCPMVProcessor`` expands its ``(<image>./</image>)`` placeholder; the model replaces
the ``<unk>`` embeddings with the resampler's outputs. The chat template is ChatML (``<|im_start|>role\\n...
<|im_end|>\\n``) with ``{% generation %}`` around each answer and its ``<|im_end|>``, so labels come from
``return_assistant_tokens_mask``; answers stop at ``<|im_end|>`` or ``<|endoftext|>``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from transformers import BatchFeature, ProcessorMixin

from addressvlm.utils.images import load_rgb

from ..processing_common import ChatPromptMixin, new_truncation_stats, truncate_text
from .image_processing_minicpmv import flatten_images


__all__ = ["CHATML_CHAT_TEMPLATE", "MiniCPMVProcessor"]

logger = logging.getLogger(__name__)

# ChatML as MiniCPM-V 2.6's tokenizer renders it (no default system prompt). The image part becomes "<image>\n",
# which the processor expands; ``{% generation %}`` marks what is trained: each answer and its <|im_end|>.
CHATML_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['content'] is string %}{% set parts = [{'type': 'text', 'text': message['content']}] %}"
    "{% else %}{% set parts = message['content'] %}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{% for part in parts %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{{ '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{% for part in parts %}{% if part['type'] == 'image' %}{{ '<image>\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{{ '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_TOKENIZER_KWARGS = (
    "padding",
    "padding_side",
    "truncation",
    "max_length",
    "add_special_tokens",
    "return_offsets_mapping",
    "return_attention_mask",
    "pad_to_multiple_of",
)


class MiniCPMVProcessor(ChatPromptMixin, ProcessorMixin):
    r"""
    MiniCPM-V 2.6's processor, implementing `addressvlm.models.BackboneProcessor`.

    Args:
        image_processor (`MiniCPMVImageProcessor`):
            Slices and normalises images; its ``image_feature_size``, ``use_image_id``, ``max_slice_nums`` and
            ``scale_resolution`` set the expansion.
        tokenizer (`PreTrainedTokenizerBase`):
            A Qwen2 tokenizer with MiniCPM-V's special tokens (``<image>``, ``</image>``, ``<slice>``,
            ``</slice>``, ``<image_id>``, ``</image_id>``, ``<unk>``, ``<|im_start|>``, ``<|im_end|>``).
        chat_template (`str`, *optional*, defaults to `CHATML_CHAT_TEMPLATE`):
            Jinja chat template with ``{% generation %}`` around trained spans.
        max_text_length (`int`, *optional*, defaults to 1408):
            Text tokens per training example (an image's whole expansion is not counted): 2048 - 10 x 64, MiniCPM-V's
            2048-token training length less a fully sliced image.
    """

    image_token = "<image>"
    """The placeholder the chat template writes for an image (one special token); `__call__` expands it."""
    image_count_needs_size = True
    """The expansion's length depends on the image's slice grid."""
    stop_tokens = ("<|im_end|>", "<|endoftext|>")

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, max_text_length=1408, **kwargs):
        self.max_text_length = max_text_length
        self.truncation_stats = new_truncation_stats()
        self._expansions: dict[tuple, list[int]] = {}
        super().__init__(
            image_processor,
            tokenizer,
            chat_template=chat_template if chat_template is not None else CHATML_CHAT_TEMPLATE,
        )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = "<|endoftext|>"
        vocab = tokenizer.get_vocab()
        missing = [t for t in ("<image>", "</image>", "<slice>", "</slice>", "<unk>") if t not in vocab]
        if missing:
            raise ValueError(f"The tokenizer lacks MiniCPM-V's special token(s) {missing}")
        self.feature_token_id = tokenizer.convert_tokens_to_ids("<unk>")

    # ------------------------------------------------------------------ expansion
    def expansion(self, grid: tuple[int, int] | None, index: int = 0) -> str:
        """The text an image with slice ``grid`` (cols, rows; `None`: not sliced) expands to, as image ``index``."""
        image = self.image_processor
        unk = "<unk>" * image.image_feature_size
        text = f"<image_id>{index}</image_id>" if image.use_image_id else ""
        text += f"<image>{unk}</image>"
        if grid is not None and tuple(grid) != (0, 0):
            row = f"<slice>{unk}</slice>" * grid[0]
            text += "\n".join([row] * grid[1])
        return text

    def _expansion_ids(self, grid, index: int = 0) -> list[int]:
        key = (tuple(grid) if grid is not None else None, index)
        if key not in self._expansions:
            text = self.expansion(grid, index)
            self._expansions[key] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._expansions[key]

    def grid_of(self, image_size: tuple[int, int]) -> tuple[int, int] | None:
        """The slice grid (cols, rows) of an image of ``image_size`` (width, height)."""
        return self.image_processor.grid_of(image_size)

    def image_token_count(self, image_size: tuple[int, int] | None = None) -> int:
        """Tokens an image of ``image_size`` (width, height) expands to (markers and newlines included)."""
        return len(self.image_expansion_ids(image_size))

    def image_expansion_ids(self, image_size: tuple[int, int] | None = None) -> list[int]:
        """The ids an image of ``image_size`` (width, height) expands to, as the first image of a prompt."""
        if image_size is None:
            raise ValueError("MiniCPM-V's expansion depends on the image size; pass image_size")
        return list(self._expansion_ids(self.grid_of(image_size)))

    def extra_settings(self) -> dict:
        """Slice settings recorded with evaluation results (`addressvlm.models.processor_settings`)."""
        image = self.image_processor
        return {"max_slice_nums": image.max_slice_nums, "scale_resolution": image.scale_resolution}

    # ------------------------------------------------------------------ images
    def prepare_images(self, images):
        """Open paths as upright RGB; keeps list nesting."""
        if images is None:
            return None
        if not isinstance(images, (list, tuple)):
            return load_rgb(images)
        return [self.prepare_images(item) if isinstance(item, (list, tuple)) else load_rgb(item) for item in images]

    def __call__(self, images=None, text=None, return_tensors=None, **kwargs) -> BatchFeature:
        """Expand each ``<image>`` of ``text`` to its slice layout and tokenize; slice and normalise ``images``.

        Args:
            images: one image per ``<image>`` of the texts, flat or nested per text, in order.
            text (`str` or `list[str]`): texts with ``<image>`` placeholders.
            return_tensors (`str`, *optional*): ``"pt"``.
            **kwargs: tokenizer options (``padding``, ``padding_side``, ``add_special_tokens``,
                ``return_offsets_mapping``), ``return_text_replacement_offsets`` (for assistant masks).

        Returns:
            `BatchFeature` with ``input_ids``, ``attention_mask`` and, with images, ``pixel_values``,
            ``pixel_attention_mask``, ``tgt_sizes`` and ``image_grids``.
        """
        if text is None:
            raise ValueError("MiniCPMVProcessor needs text (with one <image> per image)")
        texts = [text] if isinstance(text, str) else list(text)
        want_offsets = kwargs.pop("return_text_replacement_offsets", False)
        tokenizer_kwargs = {k: kwargs.pop(k) for k in _TOKENIZER_KWARGS if k in kwargs}
        tokenizer_kwargs.update(kwargs.get("text_kwargs", {}))  # images_kwargs and common_kwargs: none apply
        counts = [sample.count(self.image_token) for sample in texts]
        flat = [] if images is None else flatten_images(self.prepare_images(images))
        if sum(counts) != len(flat):
            raise ValueError(f"The texts hold {sum(counts)} {self.image_token} placeholders but {len(flat)} images")
        data: dict[str, Any] = {}
        replacements = []
        if flat:
            pixels = self.image_processor(flat, return_tensors="pt")
            data.update(pixels)
            grids = pixels["image_grids"].tolist()
            position = 0
            for count in counts:
                for index in range(count):
                    replacements.append(self.expansion(grids[position], index))
                    position += 1
        expanded, offsets = self.get_text_with_replacements(texts, replacements) if flat else (texts, [])
        encoded = self.tokenizer(expanded, return_tensors=return_tensors, **tokenizer_kwargs)
        data.update(encoded)
        if want_offsets:
            data["text_replacement_offsets"] = offsets or [[] for _ in texts]
        return BatchFeature(data, tensor_type=return_tensors, skip_tensor_conversion=self.skip_tensor_conversion)

    def collate_image_inputs(self, examples) -> dict:
        """All slices of the examples (in order) padded to the largest, with their masks and sizes (``{}`` if none)."""
        present = [example for example in examples if example.get("pixel_values") is not None]
        if not present:
            return {}
        height = max(example["pixel_values"].shape[2] for example in present)
        width = max(example["pixel_values"].shape[3] for example in present)
        patch = self.image_processor.patch_size
        pixels, masks = [], []
        for example in present:
            values, mask = example["pixel_values"], example["pixel_attention_mask"]
            pad = (0, width - values.shape[3], 0, height - values.shape[2])
            pixels.append(torch.nn.functional.pad(values, pad))
            masks.append(torch.nn.functional.pad(mask, (0, (width - values.shape[3]) // patch, 0, pad[3] // patch)))
        return {
            "pixel_values": torch.cat(pixels),
            "pixel_attention_mask": torch.cat(masks),
            "tgt_sizes": torch.cat([example["tgt_sizes"] for example in present]),
        }

    # ------------------------------------------------------------------ training examples
    def build_training_example(self, conversation: Sequence[dict[str, Any]], image=None) -> dict[str, Any]:
        """Tokenize one conversation with its image and build the label mask.

        Only assistant answers and their ``<|im_end|>`` are trained. Text beyond ``max_text_length`` is cut from the
        end, never through an image's expansion, and counted in ``truncation_stats``.

        Args:
            conversation (`list[dict]`): ``from``/``value`` turns or chat messages, without an image placeholder;
                the image opens the first user turn.
            image (`str`, `PIL.Image.Image`, *optional*): the image, or a path to it.

        Returns:
            `dict` with ``input_ids`` and ``labels`` (1-D) and, with an image, ``pixel_values`` `(slices, 3, H, W)`,
            ``pixel_attention_mask`` and ``tgt_sizes``.
        """
        images = None if image is None else [self.prepare_images(image)]
        out, input_ids, labels = self._tokenize_conversation(conversation, images)
        grids = out["image_grids"].tolist() if "image_grids" in out else []
        is_image = self._image_positions(input_ids, grids)
        input_ids, labels = truncate_text(input_ids, labels, is_image, self.max_text_length, self.truncation_stats)
        example = {"input_ids": input_ids, "labels": labels, "pixel_values": None}
        if image is not None:
            example.update({k: out[k] for k in ("pixel_values", "pixel_attention_mask", "tgt_sizes")})
        return example

    def _image_positions(self, input_ids: torch.Tensor, grids: list) -> torch.BoolTensor:
        """Positions of each image's expansion (found in order, checked token by token)."""
        is_image = torch.zeros_like(input_ids, dtype=torch.bool)
        ids = input_ids.tolist()
        start = 0
        for index, grid in enumerate(grids):
            expected = self._expansion_ids(grid, index)
            at = next((i for i in range(start, len(ids)) if ids[i : i + len(expected)] == expected), None)
            if at is None:
                raise ValueError(f"Image {index}'s expansion is not in the tokenized text (was it truncated?)")
            is_image[at : at + len(expected)] = True
            start = at + len(expected)
        return is_image
