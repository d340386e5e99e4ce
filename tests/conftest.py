"""Shared fixtures: offline environment, the tiny LlavaPhi3 model and small images."""

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
