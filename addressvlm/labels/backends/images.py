"""Image files as ``data:`` URLs for chat-completions requests."""

from __future__ import annotations

import base64
import io
import os


__all__ = ["image_data_url"]

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _sniff(data: bytes) -> str | None:
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_data_url(path: str | os.PathLike) -> str:
    """Encode an image file as a base64 ``data:`` URL.

    PNG, JPEG, GIF and WebP files are sent as they are; any other format Pillow can read is re-encoded as PNG.

    Args:
        path (`str` or `os.PathLike`):
            The image file.

    Returns:
        `str`: ``data:image/<type>;base64,<payload>``.

    Raises:
        `FileNotFoundError`: if the file does not exist.
        `ValueError`: if the file is not an image Pillow can read.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    mime = _sniff(data)
    if mime is None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="PNG")
        except UnidentifiedImageError as err:
            raise ValueError(f"{path}: not a readable image") from err
        data, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
