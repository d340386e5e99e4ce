"""Atomic file and folder writes: readers see the old output or the new one, never a half-written one.

Files go through a temporary sibling that is fsync'd and renamed into place; dataset builders write whole folders
the same way (``atomic_output_dir``), so a crash or Ctrl-C never leaves a half-written dataset behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any


__all__ = [
    "atomic_output_dir",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "write_json",
]


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


def atomic_write(path: str | os.PathLike, write: Callable) -> Path:
    """Call ``write(handle)`` on a temporary UTF-8 text file beside ``path``, fsync it, then rename it over ``path``.

    Args:
        path (`str` or `os.PathLike`):
            Destination file; its folder is created if needed.
        write (`Callable`):
            Writes the content to the open handle.

    Returns:
        `Path`: the written path.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return final


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see [`atomic_write`])."""
    return atomic_write(path, lambda handle: handle.write(text))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON (keys in their given order) atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``records`` one JSON object per line atomically."""

    def write(handle):
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    return atomic_write(path, write)


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented, key-sorted JSON (stable bytes for the same content), atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
