"""A small city whose street views look like their address, its VQA set (real builder) and an index of its training
split built with the real offline encoder (EfficientNet-Lite0 at 64 px, so the tests stay fast)."""

from pathlib import Path

import numpy as np
import pytest


DISTRICT_COLOURS = [(200, 40, 40), (40, 170, 60), (40, 70, 200), (210, 190, 40)]
_Y, _X = np.mgrid[0:40, 0:48]
PATTERNS = [(_X // 4) % 2, (_Y // 4) % 2, (_X // 4 + _Y // 4) % 2, ((_X + _Y) // 6) % 2]  # texture per district
ENCODER_SIZE = 64


def write_city(folder: Path, n_locations: int = 24, views: int = 2, seed: int = 0) -> Path:
    """Street views with a colour and texture per district and a bright bar placed by the street; returns the table.

    EfficientNet-Lite0 tells them apart: each image's nearest image of another location has its street and district.
    """
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = []
    for location in range(n_locations):
        street, district = location % 8, location % 4
        for view in range(views):
            pixels = np.empty((40, 48, 3), dtype=np.float64)
            pixels[:] = DISTRICT_COLOURS[district]
            pixels *= (0.6 + 0.4 * PATTERNS[district])[..., None]
            pixels[:, 6 * street : 6 * street + 6] = 255
            pixels += rng.normal(0, 12, pixels.shape)
            name = f"images/{location:03d}_{view}.png"
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / name)
            rows.append(
                {
                    "image": name,
                    "location_id": f"L{location:03d}",
                    "lat": 60.17 + location * 1e-3,
                    "lon": 24.94 + view * 1e-4,
                    "street": f"Street {street}",
                    "district": f"District {district}",
                }
            )
    table = folder / "metadata.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


@pytest.fixture(scope="session")
def city(tmp_path_factory):
    """``(metadata table, VQA folder)`` of the coloured city (24 locations x 2 views, split 7:2:1 by location)."""
    from addressvlm.data.vqa import build_vqa

    folder = tmp_path_factory.mktemp("coloured-city")
    table = write_city(folder)
    build_vqa(table, folder / "vqa", seed=0, overwrite=True)
    return table, folder / "vqa"


@pytest.fixture(scope="session")
def lite0():
    """The real EfficientNet-Lite0 encoder at 64 px (shared, read-only)."""
    from addressvlm.retrieval.encoders import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(image_size=ENCODER_SIZE)


@pytest.fixture(scope="session")
def train_index(city, lite0, tmp_path_factory):
    """An exact index of the VQA training split (do not modify: copy it first)."""
    from addressvlm.retrieval import build_index

    out = tmp_path_factory.mktemp("index") / "train"
    build_index(city[1], out, lite0, split="train", shard_size=8, show_progress=False)
    return out
