"""Pieces every backbone's processor shares: the ignore index, label masks, and truncation that never cuts an image."""

from __future__ import annotations

import torch


__all__ = ["IGNORE_INDEX", "new_truncation_stats", "truncate_text"]

IGNORE_INDEX = -100
"""Label of positions the loss ignores (prompt, image tokens, padding)."""


def new_truncation_stats() -> dict[str, int]:
    """Counters of `truncate_text`: examples seen, examples truncated, tokens dropped."""
    return {"examples": 0, "truncated": 0, "tokens_dropped": 0}


def truncate_text(
    input_ids: torch.Tensor, labels: torch.Tensor, is_image: torch.Tensor, max_text_length: int | None, stats: dict
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the first ``max_text_length`` text tokens (image tokens are not counted) and every image token before the
    cut; count the example in ``stats``.

    Args:
        input_ids (`torch.LongTensor` of shape `(seq,)`): the example.
        labels (`torch.LongTensor` of shape `(seq,)`): its labels.
        is_image (`torch.BoolTensor` of shape `(seq,)`): positions that belong to an image's expansion.
        max_text_length (`int`, *optional*): the text budget; `None` keeps everything.
        stats (`dict`): `new_truncation_stats` counters, updated in place.

    Raises:
        `ValueError`: the cut would fall inside or before an image.
    """
    stats["examples"] += 1
    if max_text_length is None:
        return input_ids, labels
    n_text = int((~is_image).sum())
    if n_text <= max_text_length:
        return input_ids, labels
    text_rank = (~is_image).cumsum(0)
    keep = is_image | (text_rank <= max_text_length)
    cut = int(keep.long().argmin()) if not bool(keep.all()) else len(keep)
    if bool(is_image[cut:].any()):
        raise ValueError(
            f"Cannot truncate to {max_text_length} text tokens without cutting through an image: "
            f"{int(text_rank[is_image][-1])} text tokens come before the last image token."
        )
    stats["truncated"] += 1
    stats["tokens_dropped"] += len(input_ids) - cut
    return input_ids[:cut], labels[:cut]
