"""Identity of street and district names: when two spellings name the same place.

Names are compared by `name_key`: Unicode NFKC, case-folded, Latin accents removed, apostrophes dropped, other
punctuation and symbols turned into spaces, white space collapsed. ``"Street 1"``, ``"street 1 "`` and
``"STREET  1"`` have one key; so have ``"Hämeentie"`` and ``"Hameentie"``. The ``address_accuracy`` metric
normalises at least this much (it also canonicalises suffixes such as ``Street`` / ``St``), so names with one key
can never be told apart when answers are scored: the dataset builders treat them as one name, written in its most
frequent spelling (`unify_spellings`), and reject names with an empty key (``"***"``, ``"🏙️"``), which no answer
could match.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd


__all__ = ["name_key", "name_keys", "spelling_variants", "unify_spellings"]

_APOSTROPHES = re.compile("['\u2018\u2019\u02bc`\u00b4]")
_LATIN_ACCENTS = re.compile("[\u0300-\u036f]")  # combining diacritics of Latin, Greek and Cyrillic letters
_INVISIBLE = re.compile("[\ufe00-\ufe0f\u200d\U000e0100-\U000e01ef]")  # emoji variation selectors and joiners


def name_key(name: str) -> str:
    """The comparison key of a street or district name.

    Args:
        name (`str`): the name as written.

    Returns:
        `str`: case-folded, accent-free words separated by single spaces (empty when the name has no letter or
        digit).
    """
    text = unicodedata.normalize("NFKC", str(name)).casefold()
    text = unicodedata.normalize("NFC", _LATIN_ACCENTS.sub("", unicodedata.normalize("NFD", text)))
    text = _INVISIBLE.sub("", _APOSTROPHES.sub("", text))
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):  # e.g. an emoji with its variation selector
        return ""
    return " ".join(text.split())


def name_keys(names: pd.Series) -> pd.Series:
    """`name_key` of every value of ``names`` (computed once per distinct name)."""
    names = names.fillna("").astype(str)
    return names.map({name: name_key(name) for name in names.unique()})


def spelling_variants(frame: pd.DataFrame, column: str, group: str | None = None) -> list[dict]:
    """Groups of different spellings of one name in ``frame[column]`` (within each ``group`` value, e.g. city).

    Args:
        frame (`pd.DataFrame`): a metadata table.
        column (`str`): ``street`` or ``district``.
        group (`str`, *optional*): a column whose values keep names apart (``city``).

    Returns:
        `list[dict]`: one entry per name written in several ways: ``spellings`` (spelling -> rows, 1-based, in
        table order) and ``chosen`` (the most frequent spelling; the first one on a tie).
    """
    names = frame[column].fillna("").astype(str).str.strip()
    scope = frame[group].fillna("").astype(str) if group and group in frame.columns else pd.Series("", frame.index)
    keys = name_keys(names)
    table = pd.DataFrame({"name": names.to_numpy(), "key": keys.to_numpy(), "scope": scope.to_numpy()})
    table["row"] = range(1, len(table) + 1)
    table = table[table["key"] != ""]
    found = []
    for _, part in table.groupby(["scope", "key"], sort=False):
        if part["name"].nunique() < 2:
            continue
        spellings = {name: rows["row"].tolist() for name, rows in part.groupby("name", sort=False)}
        chosen = max(spellings, key=lambda name: (len(spellings[name]), -spellings[name][0]))
        found.append({"spellings": spellings, "chosen": chosen})
    return found


def unify_spellings(frame: pd.DataFrame, columns=("street", "district"), group: str | None = "city") -> pd.DataFrame:
    """Write every name of ``columns`` in the most frequent of its spellings (see `spelling_variants`).

    Args:
        frame (`pd.DataFrame`): a metadata table (not modified).
        columns (`tuple[str, ...]`, *optional*): the name columns.
        group (`str`, *optional*, defaults to ``"city"``): names of different cities are never merged.

    Returns:
        `pd.DataFrame`: the table, a copy when a name was rewritten.
    """
    for column in columns:
        if column not in frame.columns:
            continue
        variants = spelling_variants(frame, column, group)
        if not variants:
            continue
        frame = frame.copy()
        values = frame[column].to_numpy(dtype=object).copy()
        for variant in variants:
            for rows in variant["spellings"].values():
                values[[row - 1 for row in rows]] = variant["chosen"]
        frame[column] = values
    return frame
