"""Batches for the Trainer: one processor call per row, right padding, label masks, lazily decoded images.

The dataset rows hold image *paths* (``docs/data_format.md``); :class:`ConversationCollator` opens each image only
when its row is batched, so a Pitts-size dataset never sits decoded in memory. The label mask comes from
``processor.build_training_example`` (assistant spans of the chat template: answers and their ``<|end|>`` are
trained; prompt, image tokens and padding are not).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


__all__ = ["IGNORE_INDEX", "ConversationCollator"]

IGNORE_INDEX = -100


@dataclass
class ConversationCollator:
    r"""
    Turn dataset rows (LLaVA ``conversations`` + an image path) into a padded training batch.

    Args:
        processor (`LlavaPhi3Processor`):
            Any processor with ``build_training_example(conversation, image)`` returning ``input_ids``, ``labels``
            and ``pixel_values``, and a ``tokenizer`` with a pad token.
        conversations_column (`str`, *optional*, defaults to `"conversations"`):
            Column holding the ``[{"from", "value"}]`` turns.
        image_column (`str`, *optional*, defaults to `"image"`):
            Column holding the image path; an empty or missing value means a text-only row.
        image_root (`str`, *optional*):
            Folder that relative image paths are relative to (absolute paths are used as they are), e.g. the image
            folder of a mixed-in general VQA JSON.
        pad_to_multiple_of (`int`, *optional*):
            Round the padded length up to a multiple of this (e.g. 8 for tensor cores).

    Returns (from `__call__`):
        `dict` with ``input_ids`` and ``labels`` (`(batch, seq)`, right-padded; labels are ``-100`` on padding),
        ``attention_mask`` (`(batch, seq)`), and ``pixel_values`` (`(n_images, 3, H, W)`, the images of the rows
        that have one, in row order) when the batch holds any image.
    """

    processor: Any
    conversations_column: str = "conversations"
    image_column: str = "image"
    image_root: str | None = None
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        examples = []
        for row in rows:
            if self.conversations_column not in row:
                raise KeyError(
                    f"Row has no {self.conversations_column!r} column (columns: {sorted(row)}); set "
                    "conversations_column, and keep remove_unused_columns=False in the training arguments."
                )
            image = row.get(self.image_column) or None
            if image is not None and self.image_root is not None and isinstance(image, str):
                image = os.path.join(self.image_root, image)
            examples.append(self.processor.build_training_example(row[self.conversations_column], image))
        pad_id = self.processor.tokenizer.pad_token_id
        if pad_id is None:
            raise ValueError("The tokenizer has no pad token; set tokenizer.pad_token before training.")
        longest = max(len(example["input_ids"]) for example in examples)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
        labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
        for i, example in enumerate(examples):
            n = len(example["input_ids"])
            input_ids[i, :n] = example["input_ids"]
            labels[i, :n] = example["labels"]
            attention_mask[i, :n] = 1
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        pixels = [example["pixel_values"] for example in examples if example.get("pixel_values") is not None]
        if pixels:
            batch["pixel_values"] = torch.stack(pixels)
        return batch
