"""Sample capture locations along the named streets of the offline city.

1. Candidates: points every ``spacing_m`` metres along every named road of a `ROAD_CLASSES` class (footways,
   steps and cycleways are left out); an edge of length ``l`` gets ``round(l / spacing_m)`` evenly spaced points.
2. Streets with fewer than ``min_locations_per_street`` candidates are dropped (too short to appear in several
   splits); of the rest, the ``max_streets`` with the most candidates are kept (ties by name), fewer when
   ``n_locations`` cannot give each kept street its minimum.
3. Each kept street receives ``min_locations_per_street`` locations, the remainder is shared in proportion to
   the street's extra candidates (largest remainder), and its locations are spread evenly along the street.
4. Each location gets the district of the nearest place node and the road's bearing at that point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from addressvlm.data.splits import split_sizes
from addressvlm.data.tiles import EARTH_RADIUS_M

from .city_osm import ROAD_CLASSES, CityLayers


__all__ = ["LocationSample", "sample_locations"]


@dataclass
class LocationSample:
    """Sampled locations and what was dropped.

    Args:
        locations (`pd.DataFrame`):
            ``location_id, lat, lon, street, district, bearing`` (bearing in degrees, 0 = north).
        dropped_streets (`dict[str, int]`):
            Street -> candidate count, for streets left out (too short or beyond ``max_streets``).
        candidates (`int`):
            Number of candidate points before selection.
    """

    locations: pd.DataFrame
    dropped_streets: dict[str, int] = field(default_factory=dict)
    candidates: int = 0


def _to_metres(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.radians(lon - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = np.radians(lat - lat0) * EARTH_RADIUS_M
    return x, y


def _candidates(layers: CityLayers, spacing_m: float) -> pd.DataFrame:
    west, south, east, north = layers.bounds
    lon0, lat0 = (west + east) / 2, (south + north) / 2
    roads = layers.roads[(layers.roads["name"] != "") & layers.roads["highway"].isin(list(ROAD_CLASSES))]
    records = []
    for name, geometry in zip(roads["name"], roads.geometry):
        for part in getattr(geometry, "geoms", [geometry]):
            coords = np.asarray(part.coords, dtype="float64")
            x, y = _to_metres(coords[:, 0], coords[:, 1], lon0, lat0)
            steps = np.hypot(np.diff(x), np.diff(y))
            cumulative = np.concatenate([[0.0], np.cumsum(steps)])
            length = cumulative[-1]
            count = int(math.floor(length / spacing_m + 0.5))
            if count == 0:
                continue
            positions = (np.arange(count) + 0.5) * length / count
            segment = np.clip(np.searchsorted(cumulative, positions, side="right") - 1, 0, len(steps) - 1)
            t = (positions - cumulative[segment]) / np.where(steps[segment] > 0, steps[segment], 1)
            px = x[segment] + t * (x[segment + 1] - x[segment])
            py = y[segment] + t * (y[segment + 1] - y[segment])
            bearing = np.degrees(np.arctan2(x[segment + 1] - x[segment], y[segment + 1] - y[segment])) % 360
            records.append(pd.DataFrame({"street": name, "x": px, "y": py, "bearing": bearing}))
    if not records:
        raise ValueError(f"{layers.source}: no named roads of classes {sorted(ROAD_CLASSES)}")
    frame = pd.concat(records, ignore_index=True)
    frame["lon"] = lon0 + np.degrees(frame["x"] / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    frame["lat"] = lat0 + np.degrees(frame["y"] / EARTH_RADIUS_M)
    return frame


def _allocate(capacity: np.ndarray, minimum: int, total: int) -> np.ndarray:
    allocation = np.full(len(capacity), minimum, dtype=np.int64)
    remaining = total - allocation.sum()
    extra = capacity - minimum
    if remaining <= 0 or extra.sum() == 0:
        return allocation
    if remaining >= extra.sum():
        return capacity.copy()
    return allocation + split_sizes(remaining, extra)  # the extra locations, in proportion to the extra candidates


def sample_locations(
    layers: CityLayers,
    n_locations: int = 320,
    spacing_m: float = 20.0,
    min_locations_per_street: int = 6,
    max_streets: int | None = 32,
) -> LocationSample:
    """Pick ``n_locations`` capture locations along the city's named streets (see the module docstring).

    Args:
        layers (`CityLayers`):
            The city's OSM layers.
        n_locations (`int`, *optional*, defaults to 320):
            Locations wanted (fewer when the streets hold fewer candidates).
        spacing_m (`float`, *optional*, defaults to 20.0):
            Spacing of candidate points along the roads.
        min_locations_per_street (`int`, *optional*, defaults to 6):
            Streets with fewer candidates are dropped; every kept street gets at least this many locations,
            so it can appear in the training, validation and test splits.
        max_streets (`int`, *optional*, defaults to 32):
            Keep at most this many streets (those with the most candidates); `None` keeps all.

    Returns:
        `LocationSample`.
    """
    if n_locations < 1 or min_locations_per_street < 1:
        raise ValueError("n_locations and min_locations_per_street must be >= 1")
    candidates = _candidates(layers, spacing_m)
    counts = candidates.groupby("street").size()
    ranked = counts.reset_index(name="n").sort_values(["n", "street"], ascending=[False, True], kind="stable")
    eligible = ranked[ranked["n"] >= min_locations_per_street]
    limit = min(len(eligible), max_streets or len(eligible), max(1, n_locations // min_locations_per_street))
    kept = eligible.iloc[:limit]
    dropped = {street: int(n) for street, n in zip(ranked["street"], ranked["n"]) if street not in set(kept["street"])}
    if kept.empty:
        raise ValueError(f"no street has {min_locations_per_street} candidate locations at {spacing_m} m spacing")
    allocation = _allocate(kept["n"].to_numpy(), min_locations_per_street, n_locations)
    chosen = []
    for street, count in zip(kept["street"], allocation):
        points = candidates[candidates["street"] == street]
        # spread evenly along the street's main axis
        xy = points[["x", "y"]].to_numpy()
        centred = xy - xy.mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0] if len(xy) > 1 else np.array([1.0, 0.0])
        ordered = points.iloc[np.argsort(centred @ axis, kind="stable")]
        picks = np.floor((np.arange(count) + 0.5) * len(ordered) / count).astype(int)
        chosen.append(ordered.iloc[picks])
    locations = pd.concat(chosen, ignore_index=True)
    districts = layers.districts
    west, south, east, north = layers.bounds
    lon0, lat0 = (west + east) / 2, (south + north) / 2
    dx, dy = _to_metres(districts["lon"].to_numpy(), districts["lat"].to_numpy(), lon0, lat0)
    distance = np.hypot(
        locations["x"].to_numpy()[:, None] - dx[None, :], locations["y"].to_numpy()[:, None] - dy[None, :]
    )
    locations["district"] = districts["name"].to_numpy()[np.argmin(distance, axis=1)]
    locations = locations.sort_values(["street", "x", "y"], kind="stable").reset_index(drop=True)
    locations.insert(0, "location_id", [f"{layers.name}-{i:05d}" for i in range(len(locations))])
    return LocationSample(
        locations=locations[["location_id", "lat", "lon", "street", "district", "bearing"]],
        dropped_streets=dropped,
        candidates=len(candidates),
    )
