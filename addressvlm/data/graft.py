"""Image grafting, eq. 3 of the paper: ``I_s = M * I_sa + (1 - M) * I_st``.

The satellite image ``I_sa`` is resized to ``size x size``. The street view ``I_st`` is shrunk, keeping its
aspect ratio, so that its longer side is ``L = round(delta * size)``; its shorter side is
``round(short * L / long)`` (at least 1 pixel). It is pasted into the top-right corner: columns
``[size - w, size)`` and rows ``[0, h)``. The mask ``M`` is 0 there and 1 elsewhere.

Rounding is half-up (``floor(x + 0.5)``), not Python's half-to-even. Both resizes use PIL's
``Image.Resampling.BICUBIC`` (the filter of CLIP's image processor) with ``reducing_gap=None``, so the result is
pixel-exact with ``image.resize((w, h), BICUBIC)`` of each input; an input already at its target size is
used unchanged. Images are turned upright (EXIF orientation) and converted to 8-bit RGB first
(`addressvlm.utils.images.to_rgb`: 16-bit images are scaled, not clipped).

The stage-1 builder (`addressvlm.data.alignment.graft_files`) grafts with `graft`, resizing a satellite tile shared
by consecutive views once (`fit`).
"""

from __future__ import annotations

import math

from PIL import Image

from addressvlm.utils.images import to_rgb


__all__ = ["DEFAULT_DELTA", "DEFAULT_SIZE", "RESAMPLE", "fit", "graft", "inset_size"]

DEFAULT_SIZE = 336
"""Side of the grafted image: the paper's 336 px (one image of its backbone). Processors resize what they get; for a
sliced backbone build at its slice size (MiniCPM-V: ``--size 448``, one slice instead of an upscaled 336)."""

DEFAULT_DELTA = 0.5
"""Longer side of the inset / side of the satellite image (the paper's best value)."""

RESAMPLE = Image.Resampling.BICUBIC
"""Resampling filter of both resizes."""


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _check(delta: float, size: int) -> None:
    if not (isinstance(delta, (int, float)) and 0 < delta <= 1):
        raise ValueError(f"delta must satisfy 0 < delta <= 1, got {delta!r}")
    if not (isinstance(size, int) and size > 0):
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if _round_half_up(delta * size) < 1:
        raise ValueError(f"delta={delta} is too small for size={size}: the inset would be empty")


def inset_size(
    street_size: tuple[int, int], delta: float = DEFAULT_DELTA, size: int = DEFAULT_SIZE
) -> tuple[int, int]:
    """Width and height of the shrunk street view.

    Args:
        street_size (`tuple[int, int]`):
            ``(width, height)`` of the street-view image.
        delta (`float`, *optional*, defaults to 0.5):
            Ratio of the inset's longer side to ``size``; ``0 < delta <= 1``.
        size (`int`, *optional*, defaults to 336):
            Side of the grafted image.

    Returns:
        `tuple[int, int]`: ``(w, h)`` with ``max(w, h) == round(delta * size)``.
    """
    _check(delta, size)
    width, height = street_size
    if width < 1 or height < 1:
        raise ValueError(f"street-view image has an empty size {street_size}")
    longer = _round_half_up(delta * size)
    if width >= height:
        return longer, max(1, _round_half_up(height * longer / width))
    return max(1, _round_half_up(width * longer / height)), longer


def fit(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """``image`` in 8-bit RGB at ``target`` ``(width, height)``: resized with `RESAMPLE`, or as is when it fits."""
    image = to_rgb(image)
    return image if image.size == target else image.resize(target, RESAMPLE, reducing_gap=None)


def graft(
    satellite: Image.Image,
    street_view: Image.Image,
    delta: float = DEFAULT_DELTA,
    size: int = DEFAULT_SIZE,
) -> Image.Image:
    """Graft a street view into the top-right corner of a satellite image (eq. 3).

    Args:
        satellite (`PIL.Image.Image`):
            The satellite tile (any size; resized to ``size x size``).
        street_view (`PIL.Image.Image`):
            The street-view image (any aspect ratio).
        delta (`float`, *optional*, defaults to 0.5):
            Longer side of the inset divided by ``size``; must satisfy ``0 < delta <= 1``.
        size (`int`, *optional*, defaults to 336):
            Side of the output.

    Returns:
        `PIL.Image.Image`: an RGB ``size x size`` image.

    Raises:
        `ValueError`: for ``delta`` outside ``(0, 1]`` or a non-positive ``size``.
    """
    w, h = inset_size(street_view.size, delta, size)
    canvas = fit(satellite, (size, size))
    canvas = canvas.copy() if canvas is satellite else canvas
    canvas.paste(fit(street_view, (w, h)), (size - w, 0))
    return canvas
