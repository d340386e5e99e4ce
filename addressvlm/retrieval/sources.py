"""The images an index holds: rows of a VQA dataset split or of a metadata table, with their addresses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd


__all__ = ["ROW_COLUMNS", "read_source_rows"]

ROW_COLUMNS = ("image", "id", "location_id", "street", "district", "city", "lat", "lon")
"""Columns of an index's row table (``rows/``): absolute image path, row id (``""`` for metadata tables), address
and coordinates (``city`` is ``""`` when the source has none)."""

_REQUIRED = ("image", "location_id", "street", "district", "lat", "lon")


def _finish(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [column for column in _REQUIRED if column not in frame.columns]
    if missing:
        raise ValueError(f"{where} lacks the column(s) {missing} an index needs (has {list(frame.columns)})")
    frame = frame.copy()
    for column in ("id", "city"):
        if column not in frame.columns:
            frame[column] = ""
    for column in ("image", "id", "location_id", "street", "district", "city"):
        frame[column] = frame[column].fillna("").astype(str)
    for column in ("lat", "lon"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    empty = frame.index[(frame["image"] == "") | (frame["location_id"] == "")]
    if len(empty):
        raise ValueError(f"{where}: row {int(empty[0])} has no image path or no location_id")
    return frame[list(ROW_COLUMNS)].reset_index(drop=True)


def read_source_rows(source: str | os.PathLike, split: str | None = "train") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the images to index and their addresses.

    Args:
        source (`str` or `os.PathLike`): a street-view VQA dataset folder (``addressvlm data build-vqa``) or a
            metadata table (CSV / Parquet, ``docs/data_format.md`` §1).
        split (`str`, *optional*, defaults to ``"train"``): the dataset split to index. For a metadata table with a
            ``split`` column, only its rows of this split; a table without one is indexed whole.

    Returns:
        `tuple[pd.DataFrame, dict]`: the rows (`ROW_COLUMNS`, absolute image paths) and a description of the source
        (``path``, ``kind``, ``split``, ``rows``) for ``index_info.json``.

    Raises:
        `FileNotFoundError`: the source does not exist. `ValueError`: a dataset of another kind, a missing split or
        column.
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{source} does not exist: pass a VQA dataset folder or a metadata table")
    if path.is_dir():
        from addressvlm.data import load_address_dataset
        from addressvlm.data.storage import check_dataset_kind, missing_split_message

        check_dataset_kind(path, ["vqa"], "an address index")
        splits = load_address_dataset(path)
        split = split or "train"
        if split not in splits:
            raise KeyError(missing_split_message(path, split, splits))
        dataset = splits[split]
        columns = [c for c in ROW_COLUMNS if c in dataset.column_names]
        frame = dataset.select_columns(columns).to_pandas()
        if "id" in frame.columns:
            frame = frame[~frame["id"].astype(str).str.startswith("general-")]  # general VQA rows have no address
        kind = "vqa"
    else:
        from addressvlm.data import read_metadata

        frame = read_metadata(path)
        root = Path(frame.attrs["image_root"])
        if "split" in frame.columns and split:
            frame = frame[frame["split"] == split]
        frame = frame.assign(image=[str((root / p).resolve()) if p else "" for p in frame["image"]])
        kind = "metadata"
    rows = _finish(frame, str(source))
    if rows.empty:
        raise ValueError(f"{source}: no rows to index (split {split!r})")
    return rows, {"path": str(path.resolve()), "kind": kind, "split": split, "rows": len(rows)}
