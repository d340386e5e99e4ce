"""Seeded train / validation / test split by location: the views of one location never cross splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


__all__ = ["SPLIT_NAMES", "split_by_location", "split_sizes"]

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
"""Split names, in the order of the ratios."""


def split_sizes(n_locations: int, ratios: Sequence[float]) -> list[int]:
    """Number of locations per split: largest-remainder rounding of ``n_locations * ratio`` (sums exactly).

    Args:
        n_locations (`int`):
            Number of distinct locations.
        ratios (`Sequence[float]`):
            Non-negative weights, e.g. ``(0.7, 0.2, 0.1)``; they are normalised to sum to 1.

    Returns:
        `list[int]`: one count per ratio.
    """
    weights = np.asarray(ratios, dtype="float64")
    if weights.ndim != 1 or len(weights) == 0 or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"split ratios must be non-negative with a positive sum, got {list(ratios)}")
    exact = n_locations * weights / weights.sum()
    sizes = np.floor(exact).astype(int)
    remainder = n_locations - sizes.sum()
    # Ties go to the earlier split (stable argsort of the negated fractional parts).
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[:remainder]] += 1
    return sizes.tolist()


def split_by_location(
    location_ids: Sequence[str] | pd.Series | np.ndarray,
    ratios: Sequence[float] = (0.7, 0.2, 0.1),
    seed: int = 0,
    names: Sequence[str] = SPLIT_NAMES,
) -> np.ndarray:
    """Assign every row to a split so that all rows of a location land in the same split.

    The distinct location ids are sorted, permuted with ``numpy.random.default_rng(seed)`` and cut by
    `split_sizes`; the result does not depend on the order of the rows.

    Args:
        location_ids (`Sequence[str]`, `pd.Series` or `np.ndarray`):
            The ``location_id`` of each row.
        ratios (`Sequence[float]`, *optional*, defaults to ``(0.7, 0.2, 0.1)``):
            Share of locations per split (train : validation : test = 7:2:1 in the paper).
        seed (`int`, *optional*, defaults to 0):
            Seed of the permutation.
        names (`Sequence[str]`, *optional*, defaults to `SPLIT_NAMES`):
            Split names, one per ratio.

    Returns:
        `np.ndarray`: the split name of each row (dtype object).
    """
    if len(names) != len(ratios):
        raise ValueError(f"{len(names)} split names for {len(ratios)} ratios")
    codes, uniques = pd.factorize(pd.Series(location_ids, dtype=str), sort=True)
    sizes = split_sizes(len(uniques), ratios)
    permutation = np.random.default_rng(seed).permutation(len(uniques))
    split_of_location = np.empty(len(uniques), dtype=np.int64)
    split_of_location[permutation] = np.repeat(np.arange(len(sizes)), sizes)
    return np.asarray(names, dtype=object)[split_of_location[codes]]
