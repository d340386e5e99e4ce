"""The questions `addressvlm ask` and the demo put to a model, in the wordings the models were evaluated with.

- `STANDARD_QUESTIONS`: the Fig. 10 evaluation prompts (district, street, street + district), asked when no question
  is given.
- `judgement_question` and `multiple_choice_question`: a yes/no or four-option check about a name the user typed,
  written as the VQA builder writes them (the first Table B4 stem of the level, then the Table B5 suffix).
"""

from __future__ import annotations

from collections.abc import Sequence

from addressvlm.data.templates import FIG10_PROMPTS, JUDGEMENT_SUFFIX, MC_LETTERS, MULTIPLE_CHOICE_SUFFIX, STEMS


__all__ = ["CHECK_LEVELS", "STANDARD_LABELS", "STANDARD_QUESTIONS", "judgement_question", "multiple_choice_question"]

STANDARD_QUESTIONS: dict[str, str] = dict(FIG10_PROMPTS)
"""Key (``district``, ``street``, ``street_district``) -> the evaluation prompt of Fig. 10."""

STANDARD_LABELS: dict[str, str] = {"district": "district", "street": "street", "street_district": "street + district"}
"""Key -> the label printed in tables."""

CHECK_LEVELS: tuple[str, ...] = ("street", "district")
"""Levels a yes/no or multiple-choice check can be about."""


def _check_level(level: str) -> None:
    if level not in CHECK_LEVELS:
        raise ValueError(f"level must be one of {', '.join(CHECK_LEVELS)}, got {level!r}")


def judgement_question(level: str, name: str) -> str:
    """A yes/no question: "Is this image taken on/in NAME, Yes or No?" after the level's first stem.

    Args:
        level (`str`): ``street`` or ``district``.
        name (`str`): the street or district to check.

    Returns:
        `str`: the question, as the VQA builder words judgement questions.
    """
    _check_level(level)
    name = (name or "").strip()
    if not name:
        raise ValueError(f"a yes/no check needs a {level} name")
    return f"{STEMS[level][0]} {JUDGEMENT_SUFFIX[level].format(name=name)}"


def multiple_choice_question(level: str, options: Sequence[str]) -> str:
    """A multiple-choice question over four options, lettered A-D in the given order.

    Args:
        level (`str`): ``street`` or ``district``.
        options (`Sequence[str]`): exactly four names.

    Returns:
        `str`: the question, as the VQA builder words multiple-choice questions.
    """
    _check_level(level)
    options = [str(option).strip() for option in options if str(option).strip()]
    if len(options) != len(MC_LETTERS):
        raise ValueError(f"a multiple-choice check needs {len(MC_LETTERS)} {level} options, got {len(options)}")
    return f"{STEMS[level][0]} " + MULTIPLE_CHOICE_SUFFIX.format(level=level, **dict(zip("abcd", options)))
