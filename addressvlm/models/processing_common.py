"""Pieces every backbone's processor shares: the ignore index, label masks, and truncation that never cuts an image."""

from __future__ import annotations

import torch


__all__ = ["IGNORE_INDEX", "ChatPromptMixin", "new_truncation_stats", "truncate_text"]

IGNORE_INDEX = -100
"""Label of positions the loss ignores (prompt, image tokens, padding)."""


class ChatPromptMixin:
    """Generation prompts and stop ids from the processor's chat template and its ``stop_tokens``."""

    stop_tokens: tuple[str, ...] = ()
    """Tokens that end an answer (besides the tokenizer's eos)."""

    @property
    def stop_token_ids(self) -> list[int]:
        """Ids of ``stop_tokens`` and eos that the tokenizer knows, without repeats."""
        tokens = [token for token in (*self.stop_tokens, self.tokenizer.eos_token) if token is not None]
        ids = [self.tokenizer.convert_tokens_to_ids(token) for token in tokens]
        return list(dict.fromkeys(i for i in ids if i is not None and i != self.tokenizer.unk_token_id))

    def build_prompt(self, question: str, with_image: bool = True) -> str:
        """The generation prompt of one question (with the image placeholder first), from the chat template."""
        content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": question}]
        return self.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)

    def _tokenize_conversation(self, conversation, images: list | None) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """Tokenize a conversation with the chat template; return its output, ``input_ids`` and the labels (the
        assistant tokens; the rest is `IGNORE_INDEX`)."""
        from .conversation import to_messages

        messages = to_messages(conversation, with_image=images is not None)
        processor_kwargs = {"return_tensors": "pt"}
        if images is not None:
            processor_kwargs["images"] = images
        out = self.apply_chat_template(
            messages,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
            processor_kwargs=processor_kwargs,
        )
        input_ids = out["input_ids"][0]
        mask = torch.as_tensor(out["assistant_masks"][0], dtype=torch.bool)
        return out, input_ids, input_ids.masked_fill(~mask, IGNORE_INDEX)


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
