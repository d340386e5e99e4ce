"""One image loader for grafting, checks, evaluation and training: upright (EXIF), 16-bit scaled, fully decoded."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from addressvlm.data.graft import graft, inset_size
from addressvlm.utils.images import load_rgb as load_image


@pytest.fixture
def gray16(tmp_path):
    values = np.random.default_rng(0).integers(0, 65535, (32, 32), dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode in ("I;16", "I")
    return tmp_path / "gray16.png", values


def test_16_bit_images_are_scaled_not_clipped_to_white(gray16):
    path, values = gray16
    image = load_image(path)
    assert image.mode == "RGB"
    np.testing.assert_allclose(np.asarray(image)[..., 0], values / 257.0, atol=0.51)
    satellite = Image.new("RGB", (56, 56), (0, 0, 0))
    with Image.open(path) as street:
        grafted = np.asarray(graft(satellite, street, delta=0.5, size=56))
    w, h = inset_size((32, 32), 0.5, 56)
    left, top, right, bottom = 56 - w, 0, 56, h  # the top-right corner
    inset = grafted[top:bottom, left:right]
    assert abs(inset.mean() - values.mean() / 257.0) < 3 and inset.std() > 30  # not a white square (253.9 / 5.9)


def test_exif_orientation_is_applied_like_transformers(tmp_path):
    from transformers.image_utils import load_image as hf_load_image

    image = Image.fromarray(np.random.default_rng(2).integers(0, 255, (20, 60, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "exif6.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "exif6.jpg").size == hf_load_image(str(tmp_path / "exif6.jpg")).size == (20, 60)


def test_truncated_files_fail_with_the_file_named(tmp_path):
    pixels = np.random.default_rng(5).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "trunc90.jpg").write_bytes(data[: int(len(data) * 0.9)])
    with pytest.raises(ValueError, match=r"Cannot decode image file .*trunc90\.jpg: image file is truncated"):
        load_image(tmp_path / "trunc90.jpg")
    with pytest.raises(FileNotFoundError, match="Image file not found"):
        load_image(tmp_path / "nope.jpg")
