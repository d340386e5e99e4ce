"""The predictions JSONL of ``addressvlm eval`` (``docs/data_format.md`` §4): append per batch, resume, rewrite.

One JSON object per line, keyed by ``key`` (``"{row id}:{question index}"``). The runner appends one batch of lines
at a time and flushes them to disk, so a killed run loses at most the batch in flight; a torn last line (the process
died mid-write) is dropped when the file is reopened. Small JSON outputs are written atomically (temporary file in
the same folder, then `os.replace`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from addressvlm.utils.io import atomic_write_json, atomic_write_jsonl


__all__ = ["PredictionWriter", "atomic_write_json", "atomic_write_jsonl", "question_key", "read_predictions"]

logger = logging.getLogger(__name__)


def question_key(row_id: str, index: int) -> str:
    """The key of question ``index`` of dataset row ``row_id``: ``"{row_id}:{index}"``."""
    return f"{row_id}:{index}"


def read_predictions(path: str | os.PathLike, repair: bool = False) -> tuple[dict[str, dict], int]:
    """Read a predictions JSONL into ``{key: record}``, tolerating a torn last line.

    Args:
        path (`str` or `os.PathLike`): the file; a missing file reads as empty.
        repair (`bool`, *optional*, defaults to `False`): truncate the file after its last complete line, so that
            appending continues on a line boundary.

    Returns:
        `tuple[dict[str, dict], int]`: the records by key (a later line replaces an earlier one with the same key,
        e.g. a retried failure) and the number of bytes of torn tail found (0 when the file ended cleanly).

    Raises:
        `ValueError`: a line other than the last is not a JSON object with a ``key``; the message names the file
        and the line number.
    """
    path = Path(path)
    if not path.exists():
        return {}, 0
    data = path.read_bytes()
    records: dict[str, dict] = {}
    end_of_good = 0
    lines = data.split(b"\n")
    # The text after the last newline is either empty (clean end) or a line cut short by a kill.
    for number, raw in enumerate(lines[:-1], start=1):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or "key" not in record:
                raise ValueError("not a JSON object with a 'key'")
        except ValueError as err:
            raise ValueError(f"{path}: line {number} is not a valid prediction record ({err}): {raw[:120]!r}") from err
        records[record["key"]] = record
        end_of_good += len(raw) + 1
    torn = len(data) - end_of_good
    if torn and repair:
        logger.warning("%s: dropping a torn last line (%d bytes) left by an interrupted run", path, torn)
        with open(path, "r+b") as handle:
            handle.truncate(end_of_good)
    return records, torn


class PredictionWriter:
    """Append prediction records to a JSONL file, one flushed write per batch.

    Args:
        path (`str` or `os.PathLike`): the JSONL file (created if missing; call `read_predictions` with
            ``repair=True`` first when resuming).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")

    def write_batch(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Write the records of one batch and flush them to the operating system.

        A flush survives a killed process; no ``fsync`` per batch (it can cost more than a batch on a busy shared
        disk): after a machine crash the tail may be lost or torn, which resuming handles.
        """
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        if text:
            self._handle.write(text)
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
