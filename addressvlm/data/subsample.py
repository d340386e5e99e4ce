"""View- and location-density subsampling of a metadata table (the Fig. 7 / Table C6 ablations)."""

from __future__ import annotations

import numpy as np
import pandas as pd


__all__ = ["subsample_locations", "subsample_views"]


def subsample_views(frame: pd.DataFrame, views_per_location: int | None, seed: int = 0) -> pd.DataFrame:
    """Keep at most ``views_per_location`` randomly chosen views (rows) of each location ("View-k/N").

    Args:
        frame (`pd.DataFrame`):
            Metadata table with ``location_id``.
        views_per_location (`int`, *optional*):
            Views to keep per location; `None` keeps all.
        seed (`int`, *optional*, defaults to 0):
            Seed of the choice.

    Returns:
        `pd.DataFrame`: the kept rows in their original order.
    """
    if views_per_location is None:
        return frame
    if views_per_location < 1:
        raise ValueError(f"views_per_location must be >= 1, got {views_per_location}")
    keys = np.random.default_rng(seed).random(len(frame))
    rank = pd.Series(keys, index=frame.index).groupby(frame["location_id"].to_numpy()).rank(method="first")
    return frame[rank.to_numpy() <= views_per_location]


def subsample_locations(frame: pd.DataFrame, fraction: float | None, seed: int = 0) -> pd.DataFrame:
    """Keep a random ``fraction`` of the locations with all their views ("Location-k/N").

    Args:
        frame (`pd.DataFrame`):
            Metadata table with ``location_id``.
        fraction (`float`, *optional*):
            Share of locations to keep, in ``(0, 1]``; `None` keeps all. At least one location is kept.
        seed (`int`, *optional*, defaults to 0):
            Seed of the choice.

    Returns:
        `pd.DataFrame`: the kept rows in their original order.
    """
    if fraction is None:
        return frame
    if not 0 < fraction <= 1:
        raise ValueError(f"location fraction must be in (0, 1], got {fraction}")
    locations = np.unique(frame["location_id"].astype(str).to_numpy())
    n_keep = max(1, int(np.floor(fraction * len(locations) + 0.5))) if len(locations) else 0
    kept = np.random.default_rng(seed).choice(locations, size=n_keep, replace=False)
    return frame[frame["location_id"].astype(str).isin(kept).to_numpy()]
