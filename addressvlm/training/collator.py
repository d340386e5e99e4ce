"""Batches for the Trainer: one processor call per row, right padding, label masks, lazily decoded images.

The dataset rows hold backbone-neutral conversations and image *paths* (``docs/data_format.md``);
:class:`ConversationCollator` opens each image only when its row is batched, so a Pitts-size dataset never sits
decoded in memory. Everything backbone-specific comes from the processor (`addressvlm.models.BackboneProcessor`):
``build_training_example`` tokenizes a row and builds its label mask (assistant spans of the chat template: answers
and their end-of-turn token are trained; prompt, image tokens and padding are not), ``collate_image_inputs`` batches
the image tensors (a stack of fixed-size images, or padded slices with their sizes). The text side -- right
padding, labels, attention masks -- is the same for every backbone.

With ``isolate_turns`` a multi-turn row trains each question as if it were asked alone, in one sequence: the image
prefix is encoded once and every turn attends to it and to itself only (a 4-D attention mask, and position ids that
restart after the prefix). This is exactly the single-turn training of ``split_turns`` -- no answer can be read off
another turn -- but every row still holds all its question types (so length-grouped batches stay mixed) and the
image is encoded once per row instead of once per question.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from addressvlm.models.conversation import conversation_pairs, single_turn
from addressvlm.models.processing_common import IGNORE_INDEX


__all__ = [
    "IGNORE_INDEX",
    "ConversationCollator",
    "conversation_pairs",
    "isolated_attention_mask",
    "isolated_turns_example",
]

_TEXT_KEYS = ("input_ids", "labels", "segment_ids", "position_ids")


def isolated_turns_example(processor, conversation, image=None) -> dict[str, Any]:
    """One row as turn-isolated segments: the shared prefix once, then each turn's single-turn continuation.

    Each turn is tokenized as its own single-turn conversation (image + question, answer) by
    ``processor.build_training_example``; their longest common prefix (the chat header and the image tokens, and
    any identical opening words) is kept once. The image must come before the question in the chat template (it
    does for every registered backbone), so the prefix holds all of it.

    Returns:
        `dict` with 1-D ``input_ids``, ``labels``, ``segment_ids`` (0 on the prefix, k on turn k) and
        ``position_ids`` (each turn continues from the end of the prefix), and the image tensors of the
        processor's examples.
    """
    import torch

    from addressvlm.utils.images import load_rgb

    if image is not None:
        image = load_rgb(image)  # decoded once for all turns
    singles = [
        processor.build_training_example(single_turn(question, answer), image)
        for question, answer in conversation_pairs(conversation)
    ]
    ids = [single["input_ids"] for single in singles]
    shared = min(len(i) for i in ids) - 1  # every turn keeps at least one token of its own
    for other in ids[1:]:
        differs = (ids[0][:shared] != other[:shared]).nonzero()
        if len(differs):
            shared = int(differs[0])
    labelled = (singles[0]["labels"][:shared] != IGNORE_INDEX).nonzero()
    if len(labelled):
        shared = int(labelled[0])  # a trained token is never shared: each turn's loss counts it
    input_ids = [ids[0][:shared]] + [i[shared:] for i in ids]
    labels = [singles[0]["labels"][:shared]] + [single["labels"][shared:] for single in singles]
    segments = [torch.zeros(shared, dtype=torch.long)]
    positions = [torch.arange(shared)]
    for k, i in enumerate(ids, start=1):
        segments.append(torch.full((len(i) - shared,), k, dtype=torch.long))
        positions.append(torch.arange(shared, len(i)))
    images = {key: value for key, value in singles[0].items() if key not in _TEXT_KEYS}
    return {
        "input_ids": torch.cat(input_ids),
        "labels": torch.cat(labels),
        "segment_ids": torch.cat(segments),
        "position_ids": torch.cat(positions),
        **images,
    }


def isolated_attention_mask(segment_ids):
    """The 4-D boolean mask of turn-isolated rows: causal, prefix visible to all, turns invisible to each other.

    Args:
        segment_ids (`torch.LongTensor` of shape `(batch, seq)`): 0 on the prefix, k on turn k, -1 on padding.

    Returns:
        `torch.BoolTensor` of shape `(batch, 1, seq, seq)`; padding positions attend to position 0 only (a row
        with nothing to attend to would give NaN), and their labels are ignored.
    """
    import torch

    valid = segment_ids >= 0
    length = segment_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    query, key = segment_ids[:, :, None], segment_ids[:, None, :]
    allowed = causal & valid[:, :, None] & valid[:, None, :] & ((key == 0) | (key == query))
    allowed[:, :, 0] |= ~valid
    return allowed[:, None]


@dataclass
class ConversationCollator:
    r"""
    Turn dataset rows (``conversations`` + an image path) into a padded training batch.

    Args:
        processor (`BackboneProcessor`):
            The backbone's processor: ``build_training_example(conversation, image)`` gives ``input_ids``,
            ``labels`` and the example's image tensors, ``collate_image_inputs`` batches those; its ``tokenizer``
            has a pad token.
        conversations_column (`str`, *optional*, defaults to `"conversations"`):
            Column holding the ``[{"from", "value"}]`` turns.
        image_column (`str`, *optional*, defaults to `"image"`):
            Column holding the image path; an empty or missing value means a text-only row.
        image_root (`str`, *optional*):
            Folder that relative image paths are relative to (absolute paths are used as they are), e.g. the image
            folder of a mixed-in general VQA JSON.
        pad_to_multiple_of (`int`, *optional*):
            Round the padded length up to a multiple of this (e.g. 8 for tensor cores).
        isolate_turns (`bool`, *optional*, defaults to `False`):
            Train each turn of a multi-turn row as if it were asked alone (see the module docstring). Needs an
            attention implementation that takes a 4-D mask (``sdpa``, ``eager``; not ``flash_attention_2``).

    Returns (from `__call__`):
        `dict` with ``input_ids`` and ``labels`` (`(batch, seq)`, right-padded; labels are ``-100`` on padding),
        ``attention_mask`` (`(batch, seq)`, or `(batch, 1, seq, seq)` booleans with ``isolate_turns``, which also
        adds ``position_ids``), and the image tensors of ``processor.collate_image_inputs`` (e.g. ``pixel_values``
        of the rows that have an image, in row order) when the batch holds any image.
    """

    processor: Any
    conversations_column: str = "conversations"
    image_column: str = "image"
    image_root: str | None = None
    pad_to_multiple_of: int | None = None
    isolate_turns: bool = False

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
            if self.isolate_turns:
                try:
                    examples.append(isolated_turns_example(self.processor, row[self.conversations_column], image))
                except ValueError as err:
                    raise ValueError(f"row {row.get('id', '?')}: {err}") from err
            else:
                examples.append(self.processor.build_training_example(row[self.conversations_column], image))
        pad_id = self.processor.tokenizer.pad_token_id
        if pad_id is None:
            raise ValueError("The tokenizer has no pad token; set tokenizer.pad_token before training.")
        longest = max(len(example["input_ids"]) for example in examples)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of

        def padded(key: str, value: int):
            out = torch.full((len(examples), longest), value, dtype=torch.long)
            for i, example in enumerate(examples):
                out[i, : len(example[key])] = example[key]
            return out

        lengths = torch.tensor([len(example["input_ids"]) for example in examples])
        batch = {
            "input_ids": padded("input_ids", pad_id),
            "labels": padded("labels", IGNORE_INDEX),
            "attention_mask": (torch.arange(longest) < lengths[:, None]).long(),
        }
        if self.isolate_turns:
            batch["attention_mask"] = isolated_attention_mask(padded("segment_ids", -1))
            batch["position_ids"] = padded("position_ids", 0)
        batch.update(self.processor.collate_image_inputs(examples))
        return batch
