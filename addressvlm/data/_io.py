"""Atomic file and folder writes shared by every builder of ``addressvlm.data``.

A builder writes into a hidden temporary sibling of its destination and renames it into place only once
everything succeeded, so a crash or Ctrl-C never leaves a half-written dataset behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


__all__ = ["atomic_output_dir", "atomic_write_text", "write_json"]


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` when the ``with`` block succeeds.

    Args:
        path (`str` or `os.PathLike`):
            The final folder.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace an existing, non-empty ``path``. Without it an existing non-empty folder raises
            `FileExistsError` before anything is written.

    Yields:
        `Path`: the temporary folder to write into (same parent as ``path``, so the final rename is atomic).
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a folder")
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise FileExistsError(f"{final} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / final.name)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename.

    Args:
        path (`str` or `os.PathLike`):
            Destination file; its folder is created if needed.
        text (`str`):
            The content.

    Returns:
        `Path`: the written path.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return final


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented, key-sorted JSON (stable bytes for the same content), atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
