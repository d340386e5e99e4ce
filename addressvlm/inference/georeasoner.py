"""Parsing GeoReasoner's JSON answers for evaluation (``addressvlm eval --prompt-style georeasoner``).

With that prompt style every question that asks to name the place (generation at district or street level, and
street_district) is asked with GeoReasoner's prompt (`addressvlm.data.georeasoner.REASONING_QUESTION`), and the
answer ``{"district": ..., "street": ..., "reasons": ...}`` is parsed before scoring: the district question is
scored on ``district``, the street question on ``street``, street_district on ``"street, district"``. Judgement and
multiple-choice questions are asked and scored as usual.

`parse_georeasoner_answer` sorts an answer into

* ``valid``: a JSON object (or GeoReasoner's single-quoted example style) with a district and a street;
* ``partial``: only some of them: a key is missing or empty, or the answer was cut off (``max_new_tokens``) after
  complete ``district`` / ``street`` values; what was recovered is scored, the rest is invalid;
* ``refusal``: a refusal ("I cannot tell ...", or every value "unknown") -- invalid for the metric's recall;
* ``invalid``: anything else (no JSON, no usable key) -- invalid.
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass


__all__ = ["PARSE_STATUSES", "GeoReasonerAnswer", "parse_georeasoner_answer"]

PARSE_STATUSES = ("valid", "partial", "refusal", "invalid")

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
# "key": "value" or 'key': 'value' with a complete (closed) value; escaped quotes stay inside the value
_FIELD = {
    key: re.compile(rf"""(["']){key}\1\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""", re.IGNORECASE)
    for key in ("district", "street", "reasons")
}


@dataclass(frozen=True)
class GeoReasonerAnswer:
    """A parsed answer.

    Args:
        status (`str`): ``valid``, ``partial``, ``refusal`` or ``invalid``.
        district (`str`, *optional*): the district named, if any.
        street (`str`, *optional*): the street named, if any.
        reasons (`str`, *optional*): the reasons given, if any.
    """

    status: str
    district: str | None = None
    street: str | None = None
    reasons: str | None = None

    def prediction(self, level: str) -> str:
        """The answer to score for a question of ``level`` (``district``, ``street`` or ``street_district``); ``""``
        (an invalid answer) when the part it needs was not recovered."""
        if level == "district":
            return self.district or ""
        if level == "street":
            return self.street or ""
        if level == "street_district":
            return f"{self.street}, {self.district}" if self.street and self.district else ""
        raise ValueError(f"unknown level {level!r}; expected district, street or street_district")


def _value(value) -> str | None:
    """A value as one line of text; `None` when it names nothing (empty, or no letter or digit: ``": "``)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = " ".join(str(value).split())
    return text if any(character.isalnum() for character in text) else None


def _load_object(text: str) -> dict | None:
    """The first ``{...}`` of ``text`` as a dict (JSON, else a Python literal as in GeoReasoner's example)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    loaders = (lambda chunk: json.JSONDecoder().raw_decode(chunk)[0], ast.literal_eval)
    for loader, chunk in zip(loaders, (text[start:], text[start : end + 1])):
        try:
            value = loader(chunk)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return {str(k).strip().lower(): v for k, v in value.items()}
    return None


def _unescape(value: str) -> str:
    try:
        return json.loads(f'"{value}"')
    except json.JSONDecodeError:
        return value


def parse_georeasoner_answer(text: str | None, is_refusal: Callable[[str], bool] | None = None) -> GeoReasonerAnswer:
    """Parse a GeoReasoner-style JSON answer.

    Args:
        text (`str`): the model's answer.
        is_refusal (`Callable[[str], bool]`, *optional*): what counts as declining to answer; defaults to the
            ``address_accuracy`` metric's ``is_refusal``, so the parser and the metric agree.

    Returns:
        [`GeoReasonerAnswer`].
    """
    if is_refusal is None:
        from .metric import load_address_accuracy, metric_functions

        is_refusal = metric_functions(load_address_accuracy()).is_refusal
    text = unicodedata.normalize("NFKC", text or "").strip()
    text = _FENCE.sub("", text).strip()
    if not text:
        return GeoReasonerAnswer("invalid")
    loaded = _load_object(text)
    complete = loaded is not None
    if complete:
        fields = {key: _value(loaded.get(key)) for key in ("district", "street", "reasons")}
    else:
        fields = {}
        for key, pattern in _FIELD.items():
            found = pattern.search(text)
            raw = None if found is None else found.group(2) if found.group(2) is not None else found.group(3)
            fields[key] = _value(_unescape(raw)) if raw is not None else None
    named = {key: value for key, value in fields.items() if key != "reasons" and value and not is_refusal(value)}
    if not named:
        declined = [value for key, value in fields.items() if key != "reasons" and value]
        if ("{" not in text and is_refusal(text)) or (declined and all(is_refusal(v) for v in declined)):
            return GeoReasonerAnswer("refusal", reasons=fields.get("reasons"))
        return GeoReasonerAnswer("invalid", reasons=fields.get("reasons"))
    status = "valid" if complete and len(named) == 2 else "partial"
    return GeoReasonerAnswer(status, named.get("district"), named.get("street"), fields.get("reasons"))
