"""The retrieval-augmented question: the addresses of similar and dissimilar images, then the question.

Modelled on the prompts of Img2Loc and G3 (which the street-level RAG paper follows with SigLIP retrieval): "For
your reference, these are locations of some similar images {neighbors} and these are locations of some dissimilar
images {farthest} that should be far away." Two changes for address questions:

* the locations are addresses, ``"{street}, {district}"`` (the street_district answer format), not coordinates;
  an address retrieved several times is listed once with its count, in order of its best rank;
* the hint comes *before* the question, so the question's own answer instruction ("Answer the question using a
  single word or phrase.", "Please select the correct option (A/B/C/D).") stays last, right before the answer.

Example (k=4 similar, 2 dissimilar)::

    For your reference, these are the addresses of some similar images: Kaivokatu, Kluuvi (3 images);
    Mikonkatu, Kluuvi (1 image); and these are the addresses of some dissimilar images, which should be far away:
    Siltasaarenkatu, Siltasaari (2 images). What district is shown in this photograph? Answer the question using a
    single word or phrase.

The hint goes into the question text, after the image, so every question of an image still shares the image
prefix (`addressvlm.inference.shared_prefix`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


__all__ = [
    "DISSIMILAR_TEXT",
    "SIMILAR_TEXT",
    "TEMPLATE_VERSION",
    "format_addresses",
    "rag_question",
    "retrieval_hint",
]

TEMPLATE_VERSION = 1
"""Recorded with every RAG evaluation and dataset; bump it when the wording below changes."""

SIMILAR_TEXT = "these are the addresses of some similar images: {similar}"
DISSIMILAR_TEXT = "these are the addresses of some dissimilar images, which should be far away: {dissimilar}"


def format_addresses(addresses: Sequence[str]) -> str:
    """``"A (2 images); B (1 image)"``: each address once, in order of first appearance, with its count."""
    counts = Counter(addresses)
    seen: dict[str, None] = dict.fromkeys(addresses)
    return "; ".join(f"{a} ({counts[a]} image{'s' if counts[a] != 1 else ''})" for a in seen)


def retrieval_hint(similar: Sequence[str], dissimilar: Sequence[str] = ()) -> str:
    """The hint sentence for retrieved addresses (best first); ``""`` when both lists are empty.

    Args:
        similar (`Sequence[str]`): addresses of the nearest images.
        dissimilar (`Sequence[str]`, *optional*): addresses of the least similar images.
    """
    parts = []
    if similar:
        parts.append(SIMILAR_TEXT.format(similar=format_addresses(similar)))
    if dissimilar:
        parts.append(DISSIMILAR_TEXT.format(dissimilar=format_addresses(dissimilar)))
    if not parts:
        return ""
    return "For your reference, " + "; and ".join(parts) + "."


def rag_question(question: str, hint: str) -> str:
    """``question`` with ``hint`` (from `retrieval_hint`) before it, separated by one space."""
    return f"{hint} {question}" if hint else question
