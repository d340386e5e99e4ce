"""Cache keys: what makes two labelling requests "the same".

An item's key hashes the image identity, the rendered labelling prompt, the backend, the model and the generation
settings. Changing any of them (a new prompt file, another model, a different temperature) yields new keys, so a
re-run recomputes exactly the affected items and reuses the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any


__all__ = ["IMAGE_KEY_MODES", "image_fingerprint", "item_key"]

IMAGE_KEY_MODES = ("content", "stat")
_CHUNK = 1 << 20


def image_fingerprint(path: str | os.PathLike, mode: str = "content") -> str:
    """Identify an image file for the cache.

    Args:
        path (`str` or `os.PathLike`):
            The image file.
        mode (`str`, *optional*, defaults to `"content"`):
            ``content``: SHA-256 of the bytes (survives moving the dataset); ``stat``: absolute path, modification
            time and size (no read, for very large sets on slow disks).

    Returns:
        `str`: a hex digest prefixed by the mode.

    Raises:
        `FileNotFoundError`: if the image does not exist.
        `ValueError`: for an unknown mode.
    """
    if mode == "content":
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        return f"content:{digest.hexdigest()}"
    if mode == "stat":
        stat = os.stat(path)
        ident = f"{os.path.abspath(path)}|{stat.st_mtime_ns}|{stat.st_size}"
        return f"stat:{hashlib.sha256(ident.encode('utf-8')).hexdigest()}"
    raise ValueError(f"unknown image key mode {mode!r}; expected one of {IMAGE_KEY_MODES}")


def item_key(image: str, prompt: str, backend: str, model: str, settings: Mapping[str, Any]) -> str:
    """Hash one labelling item.

    Args:
        image (`str`):
            The image fingerprint from [`image_fingerprint`].
        prompt (`str`):
            The rendered labelling prompt (it carries the reference hint).
        backend (`str`):
            Backend name, e.g. ``local`` or ``http``.
        model (`str`):
            Model path or id.
        settings (`Mapping[str, Any]`):
            Generation settings (JSON-serialisable), e.g. max new tokens, temperature, seed.

    Returns:
        `str`: 32 hex characters.
    """
    payload = json.dumps(
        {"image": image, "prompt": prompt, "backend": backend, "model": model, "settings": dict(settings)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
