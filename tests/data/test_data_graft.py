"""Grafting (eq. 3): exact pixels of the inset and of the satellite, for portrait and landscape street views."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from addressvlm.data.graft import RESAMPLE, graft, inset_size


def _random_image(rng, width, height):
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("delta", [0.3, 0.5])
@pytest.mark.parametrize("street_size", [(640, 480), (300, 500)], ids=["landscape", "portrait"])
def test_graft_pixels_match_eq3(delta, street_size):
    rng = np.random.default_rng(0)
    satellite = _random_image(rng, 512, 512)
    street = _random_image(rng, *street_size)
    out = np.asarray(graft(satellite, street, delta=delta, size=336))
    assert out.shape == (336, 336, 3)
    w, h = inset_size(street.size, delta, 336)
    longer = int(np.floor(delta * 336 + 0.5))
    assert max(w, h) == longer  # 168 at delta 0.5, 101 at delta 0.3 (100.8 rounded)
    assert (w > h) == (street_size[0] > street_size[1])
    assert abs(w / h - street_size[0] / street_size[1]) < 0.02
    expected_inset = np.asarray(street.resize((w, h), RESAMPLE))
    expected_satellite = np.asarray(satellite.resize((336, 336), RESAMPLE))
    left, top, right, bottom = 336 - w, 0, 336, h  # the top-right corner
    np.testing.assert_array_equal(out[top:bottom, left:right], expected_inset)
    mask = np.ones((336, 336), dtype=bool)
    mask[top:bottom, left:right] = False
    np.testing.assert_array_equal(out[mask], expected_satellite[mask])


def test_half_up_rounding_and_small_sides():
    assert inset_size((1000, 1), 0.5, 336) == (168, 1)  # the short side never reaches 0
    assert inset_size((100, 100), 0.25, 10) == (3, 3)  # 2.5 rounds up, not to even
    assert inset_size((200, 100), 1.0, 336) == (336, 168)


@pytest.mark.parametrize("delta", [0, -0.1, 1.01, 2, float("nan")])
def test_invalid_delta_is_rejected(delta):
    image = Image.new("RGB", (10, 10))
    with pytest.raises(ValueError, match="delta"):
        graft(image, image, delta=delta)


def test_inputs_at_target_size_are_used_unchanged():
    rng = np.random.default_rng(1)
    satellite = _random_image(rng, 336, 336)
    street = _random_image(rng, 168, 126)
    before = np.asarray(satellite).copy()
    out = np.asarray(graft(satellite, street))
    np.testing.assert_array_equal(out[:126, 168:], np.asarray(street))
    np.testing.assert_array_equal(out[126:], before[126:])
    np.testing.assert_array_equal(np.asarray(satellite), before)  # the input is not modified
