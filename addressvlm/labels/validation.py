"""Rules that decide whether a generated alignment / reasoning label can be used for training.

A label is accepted when

1. it is not empty;
2. it names every required reference name (by default the reference street **and** district), compared after
   [`normalize_name`] (case, accents, punctuation and street suffixes ignored);
3. it does not give another name of the answer kind (another street of the city, for alignment labels) as the
   answer, i.e.

   - the first name of the answer kind mentioned in the label is the reference one (the prompts ask the model to
     open with the address; other streets may be mentioned afterwards as landmarks), and
   - no other street is introduced by a claim such as "taken on", "located along", "the street is", "this is",
     "answer:".

Problem codes reported by [`LabelValidator.validate`]: ``empty``, ``missing_<kind>`` (e.g. ``missing_district``),
``other_<kind>_first`` and ``other_<kind>_claimed`` (e.g. ``other_street_claimed``).

Names are compared as token sequences after normalisation: Unicode compatibility folding, accents removed,
case-folded, punctuation dropped and common English street suffixes / directions reduced to one canonical form
(``Avenue``, ``Ave`` and ``Ave.`` all become ``ave``). Matching is on whole tokens, so ``Forbes Ave`` is found in
"on Forbes Avenue, next to ..." but ``Kluuvi`` is not found inside ``Kluuvikatu``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


__all__ = ["LabelValidator", "NameMatcher", "ValidationResult", "clean_label_text", "normalize_name", "tokenize"]

# Canonical forms of street suffixes and compass directions (both sides of a comparison go through this table).
_CANONICAL = {
    "street": "st",
    "str": "st",
    "avenue": "ave",
    "av": "ave",
    "boulevard": "blvd",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "place": "pl",
    "court": "ct",
    "terrace": "ter",
    "highway": "hwy",
    "parkway": "pkwy",
    "square": "sq",
    "alley": "aly",
    "circle": "cir",
    "expressway": "expy",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Split text into normalised tokens.

    Args:
        text (`str`):
            Any text: a name or a whole generated label.

    Returns:
        `list[str]`: case-folded, accent-free tokens with street suffixes and directions in canonical form.
    """
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return [_CANONICAL.get(tok, tok) for tok in _TOKEN.findall(folded)]


def normalize_name(name: str) -> str:
    """Return the canonical comparison form of a name (``"Forbes Avenue"`` -> ``"forbes ave"``).

    Args:
        name (`str`):
            A street or district name.

    Returns:
        `str`: the normalised tokens joined by single spaces.
    """
    return " ".join(tokenize(name))


@dataclass(frozen=True)
class NameMatch:
    """One occurrence of a known name in a text.

    Args:
        kind (`str`):
            The name's category, e.g. ``"street"`` or ``"district"``.
        name (`str`):
            The normalised name (see [`normalize_name`]).
        start (`int`):
            Index of the first matched token.
        end (`int`):
            Index one past the last matched token.
    """

    kind: str
    name: str
    start: int
    end: int


class NameMatcher:
    """Find known names (streets, districts) in text, longest match first.

    Overlapping candidates are resolved in favour of the longer name, so with the streets ``Penn Ave`` and
    ``Penn Ave Extension`` the text "Penn Avenue Extension" yields only the latter, and a district called
    ``Strip`` is not reported inside the street ``Strip Rd``.

    Args:
        names (`Mapping[str, Iterable[str]]`):
            Names per kind, e.g. ``{"street": [...], "district": [...]}``. A name listed under two kinds keeps the
            first kind given.
    """

    def __init__(self, names: Mapping[str, Iterable[str]]):
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        seen: set[tuple[str, ...]] = set()
        for kind, values in names.items():
            for value in values:
                tokens = tuple(tokenize(value))
                if not tokens or tokens in seen:
                    continue
                seen.add(tokens)
                self._by_first.setdefault(tokens[0], []).append((tokens, kind))
        for candidates in self._by_first.values():
            candidates.sort(key=lambda item: -len(item[0]))

    def find(self, text: str | list[str]) -> list[NameMatch]:
        """Return the non-overlapping name occurrences in text, in reading order.

        Args:
            text (`str` or `list[str]`):
                Raw text, or tokens already produced by [`tokenize`].

        Returns:
            `list[NameMatch]`: matches sorted by position; where candidates overlap the longest one wins.
        """
        tokens = tokenize(text) if isinstance(text, str) else text
        candidates: list[NameMatch] = []
        for start, token in enumerate(tokens):
            for name_tokens, kind in self._by_first.get(token, ()):
                end = start + len(name_tokens)
                if tuple(tokens[start:end]) == name_tokens:
                    candidates.append(NameMatch(kind, " ".join(name_tokens), start, end))
        candidates.sort(key=lambda m: (-(m.end - m.start), m.start))
        taken = [False] * len(tokens)
        kept: list[NameMatch] = []
        for match in candidates:
            if any(taken[match.start : match.end]):
                continue
            taken[match.start : match.end] = [True] * (match.end - match.start)
            kept.append(match)
        return sorted(kept, key=lambda m: m.start)


_CLAIM_VERBS = {"taken", "captured", "photographed", "shot", "located", "situated", "lies", "is", "was", "sits"}
_CLAIM_PREPOSITIONS = {"on", "along", "at", "in"}
# Nouns in canonical token form (``street`` is tokenised to ``st``, ``road`` to ``rd``, ...).
_CLAIM_NOUNS = {"answer", "location", "address", "st", "rd", "ave", "district", "neighbourhood", "neighborhood"}
_FILLERS = {"the", "a", "an"}
_PREFIX = re.compile(r"^\s*(?:reason|explanation|answer|assistant)\s*:\s*", re.IGNORECASE)
_QUOTES = "\"'“”‘’`"


def clean_label_text(text: str) -> str:
    """Tidy a generated label: collapse whitespace, drop a leading ``Reason:``-style prefix and wrapping quotes.

    Args:
        text (`str`): the raw model output.

    Returns:
        `str`: the cleaned text (may be empty).
    """
    text = " ".join((text or "").split())
    text = _PREFIX.sub("", text)
    if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of validating one label.

    Args:
        ok (`bool`):
            Whether the label is usable.
        problems (`tuple[str, ...]`, *optional*, defaults to `()`):
            Problem codes, empty when `ok` is `True`.
    """

    ok: bool
    problems: tuple[str, ...] = ()


class LabelValidator:
    """Check generated labels against the reference address and the city's other names.

    Args:
        names (`Mapping[str, Iterable[str]]`):
            All names of the city per kind, e.g. ``{"street": [...], "district": [...]}`` (taken from the
            dataset). References missing from these lists are still recognised.
        answer_kind (`str`, *optional*, defaults to `"street"`):
            The kind whose *other* names must not be given as the answer (``"district"`` for GeoReasoner labels).
        required_kinds (`Sequence[str]`, *optional*, defaults to `("street", "district")`):
            Kinds whose reference name must appear in the label.
    """

    def __init__(
        self,
        names: Mapping[str, Iterable[str]],
        answer_kind: str = "street",
        required_kinds: Sequence[str] = ("street", "district"),
    ):
        self.names = {kind: sorted({str(v) for v in values if str(v).strip()}) for kind, values in names.items()}
        self.answer_kind = answer_kind
        self.required_kinds = tuple(required_kinds)
        self._known = {kind: {normalize_name(v) for v in values} for kind, values in self.names.items()}
        self._matcher = NameMatcher(self.names)

    def _matcher_for(self, reference: Mapping[str, str]) -> NameMatcher:
        unknown = {k: [v] for k, v in reference.items() if normalize_name(v) not in self._known.get(k, set())}
        if not unknown:
            return self._matcher
        merged = {kind: list(values) for kind, values in self.names.items()}
        for kind, values in unknown.items():
            merged.setdefault(kind, []).extend(values)
        return NameMatcher(merged)

    def validate(self, text: str, reference: Mapping[str, str]) -> ValidationResult:
        """Validate one label.

        Args:
            text (`str`):
                The generated label (the reason, without the answer prefix added later).
            reference (`Mapping[str, str]`):
                The reference name per kind, e.g. ``{"street": "Forbes Ave", "district": "Downtown"}``.

        Returns:
            [`ValidationResult`]: `ok` and the problem codes.

        Raises:
            `KeyError`: if `reference` lacks a required kind or the answer kind.
        """
        tokens = tokenize(text or "")
        if not tokens:
            return ValidationResult(False, ("empty",))
        wanted = {kind: normalize_name(reference[kind]) for kind in {*self.required_kinds, self.answer_kind}}
        matches = self._matcher_for({k: reference[k] for k in wanted}).find(tokens)
        problems = []
        for kind in self.required_kinds:
            if not any(m.kind == kind and m.name == wanted[kind] for m in matches):
                problems.append(f"missing_{kind}")
        answer = wanted[self.answer_kind]
        others = [m for m in matches if m.kind == self.answer_kind and m.name != answer]
        ours = [m for m in matches if m.kind == self.answer_kind and m.name == answer]
        if others and (not ours or others[0].start < ours[0].start):
            problems.append(f"other_{self.answer_kind}_first")
        if any(_is_claim(tokens, m.start) for m in others):
            problems.append(f"other_{self.answer_kind}_claimed")
        return ValidationResult(not problems, tuple(problems))


def _is_claim(tokens: list[str], start: int) -> bool:
    """Whether the words just before position `start` present the following name as the answer."""
    before = [t for t in tokens[max(0, start - 4) : start] if t not in _FILLERS]
    if not before:
        return False
    last = before[-1]
    prev = before[-2] if len(before) > 1 else ""
    if last in _CLAIM_PREPOSITIONS and prev in _CLAIM_VERBS:
        return True
    if last in {"is", "was"} and prev in _CLAIM_NOUNS | {"this", "it"}:
        return True
    return last == "answer"
