"""Atomic file writes: readers see the old file or the new one, never a half-written one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


__all__ = ["atomic_write_json", "atomic_write_text"]


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to a temporary file beside `path`, fsync it, then rename it over `path`.

    Args:
        path (`str` or `os.PathLike`): destination.
        text (`str`): content (UTF-8).

    Returns:
        `Path`: the destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write `data` as indented JSON atomically (see [`atomic_write_text`]).

    Args:
        path (`str` or `os.PathLike`): destination.
        data (`Any`): JSON-serialisable value.

    Returns:
        `Path`: the destination.
    """
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
