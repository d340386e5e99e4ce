"""Vectorised sampling of wrong answers (distractors) for judgement and multiple-choice questions.

Rule (the paper does not say how distractors were drawn; this is our documented choice):

- ``"random"`` (default): distractors are drawn uniformly, without replacement, from the *other* names of the
  same level (street or district) in the same city.
- ``"nearby"``: they are drawn uniformly from the ``pool`` other names whose centroid (mean lat/lon of their
  rows) is nearest to the centroid of the correct name -- harder questions.

A question needs ``k`` distinct other names; where the city has fewer, the question is skipped by the builder
and counted (never silently).
"""

from __future__ import annotations

import numpy as np


__all__ = ["nearest_names", "sample_distinct"]


def sample_distinct(
    rng: np.random.Generator,
    high: np.ndarray | int,
    k: int,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Draw ``k`` distinct integers per row uniformly from ``[0, high)`` minus ``exclude``, vectorised.

    Each draw takes ``r`` uniform in the still-free count and shifts it past the already-taken values in
    ascending order, which maps it uniformly onto the free values.

    Args:
        rng (`np.random.Generator`):
            Random generator.
        high (`np.ndarray` or `int`):
            Exclusive upper bound per row; a scalar applies to every row of ``exclude``.
        k (`int`):
            Values per row.
        exclude (`np.ndarray`, *optional*):
            One value per row that must not be drawn (the correct answer), inside ``[0, high)``.

    Returns:
        `np.ndarray`: shape ``(rows, k)``, int64.
    """
    high = np.asarray(high, dtype=np.int64)
    if high.ndim == 0 and exclude is None:
        raise ValueError("give `high` per row, or `exclude`, so the number of rows is known")
    n = len(exclude) if exclude is not None else len(high)
    high = np.broadcast_to(high, (n,))
    taken = np.empty((n, 0), dtype=np.int64) if exclude is None else np.asarray(exclude, np.int64)[:, None]
    free = high - taken.shape[1]
    if n and (free < k).any():
        raise ValueError(f"cannot draw {k} distinct values where only {int(free.min())} are free")
    draws = np.empty((n, k), dtype=np.int64)
    for j in range(k):
        value = rng.integers(0, np.maximum(free - j, 1), size=n) if n else np.empty(0, np.int64)
        for column in np.sort(taken, axis=1).T:
            value = value + (value >= column)
        draws[:, j] = value
        taken = np.concatenate([taken, value[:, None]], axis=1)
    return draws


def nearest_names(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Rank, for each name, the other names by distance between centroids.

    Args:
        lat (`np.ndarray`):
            Centroid latitude of each name.
        lon (`np.ndarray`):
            Centroid longitude of each name.

    Returns:
        `np.ndarray`: ``(n, n - 1)`` int64; row ``i`` lists the other names, nearest first (ties by index).
    """
    lat = np.asarray(lat, dtype="float64")
    lon = np.asarray(lon, dtype="float64")
    n = len(lat)
    if n < 2:
        return np.empty((n, 0), dtype=np.int64)
    # Local equirectangular metres are enough to rank names within one city.
    scale = np.cos(np.deg2rad(np.nanmean(lat)))
    dy = lat[:, None] - lat[None, :]
    dx = (lon[:, None] - lon[None, :]) * scale
    distance = np.hypot(dx, dy)
    np.fill_diagonal(distance, np.inf)
    order = np.argsort(distance, axis=1, kind="stable")
    return order[:, : n - 1]
