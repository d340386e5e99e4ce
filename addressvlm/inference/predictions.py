"""The predictions JSONL of ``addressvlm eval`` (``docs/data_format.md`` §4): append per batch, resume, rewrite.

One JSON object per line, keyed by ``key`` (``"{row id}:{question index}"``). The runner appends one batch of lines
at a time with `addressvlm.utils.jsonl.JsonlAppender` and flushes them (no ``fsync`` per batch: it can cost more than
a batch on a busy shared disk), so a killed run loses at most the batch in flight; a torn last line (the process
died mid-write) is dropped when the file is reopened. The final rewrite is atomic (`addressvlm.utils.io`).
"""

from __future__ import annotations

import json
import os

from addressvlm.utils.jsonl import read_jsonl_lines


__all__ = ["question_key", "read_predictions"]


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
    lines, torn = read_jsonl_lines(path, repair=repair)
    records: dict[str, dict] = {}
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or "key" not in record:
                raise ValueError("not a JSON object with a 'key'")
        except ValueError as err:
            raise ValueError(f"{path}: line {number} is not a valid prediction record ({err}): {raw[:120]!r}") from err
        records[record["key"]] = record
    return records, torn
