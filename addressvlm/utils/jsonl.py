"""Resumable append-only JSONL: one JSON object per line, appended by runs that may be killed at any moment.

A kill can leave a torn last line (the text after the last newline); readers see only complete lines and report the
torn tail's size, and an appender cuts it off before writing, so new lines start on a line boundary. Used by the
labelling cache (`addressvlm.labels.cache`, locked and ``fsync``-ed per record) and the predictions of
``addressvlm eval`` (`addressvlm.inference.predictions`, flushed per batch).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


try:  # POSIX only; elsewhere the lock is skipped.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["FileInUseError", "JsonlAppender", "read_jsonl_lines"]

logger = logging.getLogger(__name__)


class FileInUseError(RuntimeError):
    """Another process holds the lock of the JSONL file."""


def _split(data: bytes) -> tuple[list[bytes], int]:
    end = data.rfind(b"\n") + 1
    return data[:end].split(b"\n")[:-1], len(data) - end


def _cut(path: Path, handle, size: int, torn: int, fsync: bool) -> None:
    logger.warning("%s: cutting off a torn last line (%d bytes) left by an interrupted run", path, torn)
    handle.truncate(size)
    handle.flush()
    if fsync:
        os.fsync(handle.fileno())


def read_jsonl_lines(path: str | os.PathLike, repair: bool = False) -> tuple[list[bytes], int]:
    """Read the complete lines of a JSONL file.

    Args:
        path (`str` or `os.PathLike`): the file; a missing file reads as empty.
        repair (`bool`, *optional*, defaults to `False`): cut the torn tail off the file.

    Returns:
        `tuple[list[bytes], int]`: the complete lines (without their newline; blank ones included, so that
        ``index + 1`` is the line number) and the size in bytes of the torn tail (0 when the file ends cleanly).
    """
    path = Path(path)
    if not path.exists():
        return [], 0
    lines, torn = _split(path.read_bytes())
    if torn and repair:
        with open(path, "r+b") as handle:
            _cut(path, handle, path.stat().st_size - torn, torn, fsync=False)
    return lines, torn


class JsonlAppender:
    """An append-only JSONL file opened for resuming: locked if asked, its torn tail cut, its lines read back.

    Args:
        path (`str` or `os.PathLike`): the file; created (with its folder) if missing.
        fsync (`bool`, *optional*, defaults to `False`): ``fsync`` after each `append` (and after cutting a torn
            tail): survives a machine crash, not only a killed process, at the cost of one disk sync per call.
        lock (`bool`, *optional*, defaults to `False`): hold an exclusive ``flock`` while open, so two runs cannot
            append to the same file.

    Attributes:
        torn_bytes (`int`): size of the torn tail cut off by `open` (0 when the file ended cleanly).
    """

    def __init__(self, path: str | os.PathLike, fsync: bool = False, lock: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self.lock = lock
        self.torn_bytes = 0
        self._handle = None

    def open(self) -> list[bytes]:
        """Lock the file (if asked), cut a torn tail and position at the end.

        Returns:
            `list[bytes]`: the complete lines already in the file (see `read_jsonl_lines`).

        Raises:
            [`FileInUseError`]: another process holds the lock.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 -- closed in close()
        if self.lock and fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise FileInUseError(f"{self.path}: another process is appending to this file") from None
        handle.seek(0)
        data = handle.read()
        lines, self.torn_bytes = _split(data)
        if self.torn_bytes:
            _cut(self.path, handle, len(data) - self.torn_bytes, self.torn_bytes, self.fsync)
        handle.seek(0, os.SEEK_END)
        self._handle = handle
        return lines

    def append(self, records: Iterable[Mapping[str, Any]], compact: bool = False) -> None:
        """Append records in one write, then flush (and ``fsync`` if asked).

        Args:
            records (`Iterable[Mapping]`): JSON-serialisable records, one line each.
            compact (`bool`, *optional*, defaults to `False`): no spaces after separators.

        Raises:
            `RuntimeError`: the file is not open.
        """
        if self._handle is None:
            raise RuntimeError(f"{self.path}: the file is not open")
        separators = (",", ":") if compact else None
        text = "".join(json.dumps(r, ensure_ascii=False, separators=separators) + "\n" for r in records)
        if not text:
            return
        self._handle.write(text.encode("utf-8"))
        self._handle.flush()
        if self.fsync:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file (which releases the lock)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> JsonlAppender:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
