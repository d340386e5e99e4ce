"""Normalisation and matching of street and district names inside free text.

Names are compared as token sequences after normalisation: Unicode compatibility folding, accents removed,
case-folded, punctuation dropped and common English street suffixes / directions reduced to one canonical form
(``Avenue``, ``Ave`` and ``Ave.`` all become ``ave``). Matching is on whole tokens, so ``Forbes Ave`` is found in
"on Forbes Avenue, next to ..." but ``Kluuvi`` is not found inside ``Kluuvikatu``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


__all__ = ["NameMatch", "NameMatcher", "normalize_name", "tokenize"]

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
