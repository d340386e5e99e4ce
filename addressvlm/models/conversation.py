"""Backbone-neutral conversations and their chat messages.

Saved datasets hold conversations as turns (``[{"from": "human" | "gpt", "value": text}]``, ``docs/data_format.md``)
and an image path; the text holds **no** image placeholder. Each backbone's processor puts its own placeholder
where the image goes: `to_messages` marks it as an ``{"type": "image"}`` content part of the first user turn, which
the backbone's chat template renders (``<image>\\n`` for LLaVA-Phi-3, MiniCPM-V's slice layout for MiniCPM-V).

Conversations written before this convention (and LLaVA-format general-VQA JSON) carry a literal ``<image>`` in the
first human turn; it is removed and the image part is put there instead, so both read alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


__all__ = [
    "LEGACY_IMAGE_TOKEN",
    "conversation_pairs",
    "single_turn",
    "strip_image_placeholder",
    "to_messages",
]

LEGACY_IMAGE_TOKEN = "<image>"
"""The LLaVA placeholder older saved conversations carry in their first human turn."""

_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def strip_image_placeholder(text: str) -> str:
    """``text`` without the legacy ``<image>`` placeholder (and the newline that joined it to the question)."""
    if LEGACY_IMAGE_TOKEN not in text:
        return text
    return text.replace(LEGACY_IMAGE_TOKEN + "\n", "").replace("\n" + LEGACY_IMAGE_TOKEN, "").replace(
        LEGACY_IMAGE_TOKEN, ""
    )


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def to_messages(conversation: Sequence[Mapping[str, Any]], with_image: bool) -> list[dict[str, Any]]:
    """Chat messages of a conversation, the image as a content part of the first user turn.

    Args:
        conversation (`Sequence[Mapping]`): ``from``/``value`` turns, or ``role``/``content`` messages (string or
            typed-part content). A legacy ``<image>`` in the text is removed.
        with_image (`bool`): the row has an image: the first user turn gets ``{"type": "image"}`` before its text.

    Returns:
        `list[dict]`: ``{"role", "content": [parts]}`` messages.

    Raises:
        `ValueError`: a turn has an unknown speaker, or ``with_image`` and no turn is the user's.
    """
    messages = []
    placed = not with_image
    for i, turn in enumerate(conversation):
        if "role" in turn:
            role, text = turn["role"], _text_of(turn["content"])
        else:
            try:
                role = _ROLES[turn["from"]]
            except KeyError as err:
                raise ValueError(f"Turn {i} of the conversation has unknown speaker {turn.get('from')!r}") from err
            text = turn["value"]
        parts = []
        if role == "user" and not placed:
            parts.append({"type": "image"})
            placed = True
        parts.append({"type": "text", "text": strip_image_placeholder(text)})
        messages.append({"role": role, "content": parts})
    if not placed:
        raise ValueError("The row has an image but its conversation has no user turn to put it in")
    return messages


def conversation_pairs(conversation: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    """The (question, answer) pairs of a conversation, image placeholders removed from the questions.

    Raises:
        `ValueError`: the turns are not a strict human / gpt alternation.
    """
    if len(conversation) % 2 or any(
        turn.get("from") != ("human" if k % 2 == 0 else "gpt") for k, turn in enumerate(conversation)
    ):
        raise ValueError(f"turns are not human/gpt pairs: {[turn.get('from') for turn in conversation]}")
    return [
        (strip_image_placeholder(conversation[k]["value"]), conversation[k + 1]["value"])
        for k in range(0, len(conversation), 2)
    ]


def single_turn(question: str, answer: str) -> list[dict[str, str]]:
    """A one-question conversation."""
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
