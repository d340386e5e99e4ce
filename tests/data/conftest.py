"""Shared fixtures of the data tests: synthetic metadata tables (the small offline city is in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image


def make_metadata(
    n_locations: int = 60,
    views: int = 3,
    n_streets: int = 12,
    n_districts: int = 5,
    seed: int = 0,
    city: str | None = None,
) -> pd.DataFrame:
    """A valid metadata table with fake image paths (no files), streets nested in districts."""
    rng = np.random.default_rng(seed)
    street = rng.integers(0, n_streets, size=n_locations)
    district = street % n_districts
    lat = 60.16 + rng.random(n_locations) * 0.02
    lon = 24.93 + rng.random(n_locations) * 0.02
    prefix = f"{city}-" if city else ""
    frame = pd.DataFrame(
        {
            "image": [f"images/{prefix}{i:05d}_{v}.jpg" for i in range(n_locations) for v in range(views)],
            "location_id": np.repeat([f"{prefix}L{i:05d}" for i in range(n_locations)], views),
            "lat": np.repeat(lat, views),
            "lon": np.repeat(lon, views),
            "street": np.repeat([f"Street {s}" for s in street], views),
            "district": np.repeat([f"District {d}" for d in district], views),
        }
    )
    if city:
        frame["city"] = city
    return frame


@pytest.fixture(scope="session")
def metadata_factory():
    """The `make_metadata` helper."""
    return make_metadata


@pytest.fixture
def image_table(tmp_path):
    """A metadata CSV whose images and satellite tiles exist on disk (tiny PNGs)."""
    frame = make_metadata(n_locations=12, views=2, n_streets=6, n_districts=3)
    rng = np.random.default_rng(1)
    for name in frame["image"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(tmp_path / name)
    frame["satellite"] = [f"tiles/{loc}.png" for loc in frame["location_id"]]
    frame["satellite_unlabeled"] = [f"tiles_plain/{loc}.png" for loc in frame["location_id"]]
    for column in ("satellite", "satellite_unlabeled"):
        for name in frame[column].unique():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / name)
    path = tmp_path / "metadata.csv"
    frame.to_csv(path, index=False)
    return path
