"""Opening images the same way everywhere: grafting, image checks, evaluation and training.

`open_rgb` decodes the whole file (a truncated file fails here, not halfway through a run), applies the EXIF
orientation (as `transformers.image_utils.load_image` does) and converts to 8-bit RGB, scaling 16-bit and float
images instead of clipping them to white.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


__all__ = ["image_size", "load_rgb", "open_rgb", "to_rgb"]

_ORIENTATION = 0x0112
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _scaled_to_8_bit(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F" and values.size and np.nanmax(values) <= 1.0:
        values = values * 255.0
    elif image.mode != "F" or (values.size and np.nanmax(values) > 255.0):
        values = values / 257.0  # 0..65535 -> 0..255
    return Image.fromarray(np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB version of ``image``, turned upright by its EXIF orientation.

    Args:
        image (`PIL.Image.Image`): any image Pillow opened.

    Returns:
        `PIL.Image.Image`: mode ``RGB`` (``image`` itself when it is already an upright RGB image).
    """
    if image.getexif().get(_ORIENTATION, 1) not in (0, 1):
        image = ImageOps.exif_transpose(image)
    if image.mode in _WIDE_MODES:
        image = _scaled_to_8_bit(image)
    return image if image.mode == "RGB" else image.convert("RGB")


@contextlib.contextmanager
def _opened(path: str | os.PathLike):
    """`Image.open`, with errors (also those of the ``with`` block) that name the file."""
    try:
        with Image.open(path) as image:
            yield image
    except FileNotFoundError as err:
        raise FileNotFoundError(f"Image file not found: {path}") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"Cannot decode image file {path}: {err}") from err


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """Open, fully decode and convert an image file (see `to_rgb`), with errors that name the file.

    Args:
        path (`str` or `os.PathLike`): the image file.

    Returns:
        `PIL.Image.Image`: an upright 8-bit RGB image.

    Raises:
        `FileNotFoundError`: the file does not exist.
        `ValueError`: the file is not an image Pillow can decode, or is truncated.
    """
    with _opened(path) as image:
        image.load()
        return to_rgb(image)


def load_rgb(image) -> Image.Image:
    """`open_rgb` for a path, `to_rgb` for an image already open: the one way processors get an upright RGB image."""
    if isinstance(image, Image.Image):
        return to_rgb(image)
    return open_rgb(image)


def image_size(image) -> tuple[int, int]:
    """The upright ``(width, height)`` of an image or image file, read from the header without decoding the pixels
    (EXIF rotations by 90 degrees swap the two), as `open_rgb` would return it.

    Raises:
        `FileNotFoundError` / `ValueError`: as `open_rgb`.
    """
    if not isinstance(image, Image.Image):
        with _opened(image) as opened:
            return image_size(opened)
    width, height = image.size
    return (height, width) if image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8) else (width, height)
