"""Crash-safe JSONL store of labelling results, and its keys.

Every model reply is appended as one JSON line, flushed and ``fsync``-ed before the next one is handled, so a
killed run loses nothing that was already returned. Two record kinds share the file:

- ``{"kind": "attempt", "key", "attempt", "text", "ok", "problems", ...}``: one model generation and its
  validation outcome; a re-run resumes an item after its last recorded attempt;
- ``{"kind": "final", "key", "reason", "label_source", "attempts", ...}``: the item is finished; a re-run skips it.

A torn last line (the process was killed mid-write) is detected when the file is opened and cut off; complete
lines that are not valid records are skipped and counted. The file is locked (``flock``) while open, so two runs
cannot append to the same cache. The file handling is `addressvlm.utils.jsonl.JsonlAppender`.

Records are keyed by [`item_key`], which hashes the image identity, the rendered labelling prompt, the backend,
the model and the generation settings. Changing any of them (a new prompt file, another model, a different
temperature) yields new keys, so a re-run recomputes exactly the affected items and reuses the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from addressvlm.utils.jsonl import FileInUseError, JsonlAppender


__all__ = ["IMAGE_KEY_MODES", "LabelCache", "image_fingerprint", "item_key"]

logger = logging.getLogger(__name__)
_KINDS = ("attempt", "final")
IMAGE_KEY_MODES = ("content", "stat")


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
            while chunk := handle.read(1 << 20):
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


def _is_record(record: Any) -> bool:
    return isinstance(record, dict) and record.get("kind") in _KINDS and isinstance(record.get("key"), str)


class LabelCache:
    """Append-only JSONL store keyed by item key (see [`item_key`]).

    Use it as a context manager::

        with LabelCache("labels.cache.jsonl") as cache:
            if cache.final(key) is None:
                cache.append({"kind": "final", "key": key, "reason": "...", "label_source": "model"})

    Args:
        path (`str` or `Path`):
            The JSONL file; created (with its folder) if missing.
        fsync (`bool`, *optional*, defaults to `True`):
            ``fsync`` after every record. Turning it off trades crash safety for speed.

    Attributes:
        torn_lines (`int`): torn last lines cut off when opening (0 or 1).
        corrupt_lines (`int`): complete lines skipped because they are not valid records.
        duplicate_finals (`int`): final records ignored because the key was already final.
    """

    def __init__(self, path: str | os.PathLike, fsync: bool = True):
        self.path = Path(path)
        self.torn_lines = 0
        self.corrupt_lines = 0
        self.duplicate_finals = 0
        self._finals: dict[str, dict[str, Any]] = {}
        self._attempts: dict[str, list[dict[str, Any]]] = {}
        self._file = JsonlAppender(self.path, fsync=fsync, lock=True)

    def __enter__(self) -> LabelCache:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._finals)

    def open(self) -> LabelCache:
        """Lock the file, load its records and repair a torn tail.

        Returns:
            [`LabelCache`]: `self`.

        Raises:
            `RuntimeError`: if another process holds the file.
        """
        try:
            lines = self._file.open()
        except FileInUseError:
            raise RuntimeError(f"{self.path}: another labelling run is using this cache file") from None
        self.torn_lines = int(self._file.torn_bytes > 0)
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
            if _is_record(record):
                self._remember(record)
            elif line.strip():
                self.corrupt_lines += 1
                logger.warning("%s:%d: skipping a line that is not a labelling record", self.path, number)
        return self

    def _remember(self, record: dict[str, Any]) -> None:
        key = record["key"]
        if record["kind"] == "attempt":
            self._attempts.setdefault(key, []).append(record)
        elif key in self._finals:
            self.duplicate_finals += 1
        else:
            self._finals[key] = record

    def close(self) -> None:
        """Release the lock and close the file."""
        self._file.close()  # closing the descriptor releases the flock

    def final(self, key: str) -> dict[str, Any] | None:
        """Return the final record of an item, or `None` if it is not finished.

        Args:
            key (`str`): the item key.
        """
        return self._finals.get(key)

    def attempts(self, key: str) -> list[dict[str, Any]]:
        """Return the recorded attempts of an item, oldest first.

        Args:
            key (`str`): the item key.
        """
        return list(self._attempts.get(key, ()))

    def append(self, record: dict[str, Any]) -> None:
        """Append one record durably (one write, flush, fsync).

        Args:
            record (`dict`):
                A JSON-serialisable record with ``kind`` (``attempt`` or ``final``) and ``key``.

        Raises:
            `ValueError`: if the record lacks ``kind``/``key``.
            `RuntimeError`: if the cache is not open.
        """
        if not _is_record(record):
            raise ValueError(f"a cache record needs kind in {_KINDS} and a string key, got {record!r:.200}")
        self._file.append([record], compact=True)
        self._remember(record)
