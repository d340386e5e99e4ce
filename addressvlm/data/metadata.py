"""Read and validate metadata tables (CSV or Parquet, one row per street-view image).

The schema is ``docs/data_format.md`` §1: required ``image``, ``location_id``, ``lat``, ``lon``, ``street``,
``district``; optional ``heading``, ``satellite``, ``satellite_unlabeled``, ``city`` and ``split`` (a dataset's
official ``train`` / ``validation`` / ``test`` assignment, used as given by the VQA builder). Relative paths are
resolved against the table's folder, which `read_metadata` records in ``frame.attrs["image_root"]``.

Validation is vectorised with pandas and collects every problem before raising `MetadataError`, so a user
fixes a table in one pass. Image files are opened only when asked (``check_images=True``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .validation import ValidationReport


__all__ = [
    "OPTIONAL_COLUMNS",
    "PATH_COLUMNS",
    "REQUIRED_COLUMNS",
    "SPLIT_ALIASES",
    "check_image_files",
    "normalise_metadata",
    "read_metadata",
    "read_table",
    "validate_metadata",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("image", "location_id", "lat", "lon", "street", "district")
"""Columns every metadata table must have."""

OPTIONAL_COLUMNS: tuple[str, ...] = ("heading", "satellite", "satellite_unlabeled", "city", "split")
"""Columns that are used when present."""

SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
"""Accepted values of the ``split`` column (case-insensitive) and the split each names."""

PATH_COLUMNS: tuple[str, ...] = ("image", "satellite", "satellite_unlabeled")
"""Columns holding file paths (relative to the table's folder unless absolute)."""

_STRING_COLUMNS = ("image", "location_id", "street", "district", "satellite", "satellite_unlabeled", "city", "split")
_NUMBER_RANGES = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "heading": (-360.0, 360.0)}


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV or Parquet file with every non-numeric column as text (ids like ``"007"`` stay intact).

    Args:
        path (`str` or `os.PathLike`):
            A ``.csv``, ``.tsv``, ``.parquet`` or ``.pq`` file.

    Returns:
        `pd.DataFrame`: the raw table, empty cells as empty strings in CSV files.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metadata table {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"{path}: unsupported metadata format {suffix!r}; use .csv, .tsv or .parquet")


def read_metadata(
    path: str | os.PathLike,
    column_map: Mapping[str, str] | None = None,
    check_images: bool = False,
    validate: bool = True,
) -> pd.DataFrame:
    """Read a metadata table, rename its columns, normalise types and validate it.

    Args:
        path (`str` or `os.PathLike`):
            CSV or Parquet table (``docs/data_format.md`` §1).
        column_map (`Mapping[str, str]`, *optional*):
            ``{name in the file: name in the schema}`` for tables with other column names.
        check_images (`bool`, *optional*, defaults to `False`):
            Also open every image (and satellite tile) and report missing or unreadable files.
        validate (`bool`, *optional*, defaults to `True`):
            Raise `MetadataError` listing every problem. With `False` the table is returned as read.

    Returns:
        `pd.DataFrame`: the table with string columns stripped, ``lat``/``lon``/``heading`` as floats, and
        ``attrs["image_root"]`` (the table's folder) and ``attrs["source"]`` (the file) set.

    Raises:
        `MetadataError`: with a `ValidationReport` naming file, 1-based row and column of each problem.
    """
    path = Path(path)
    raw = read_table(path)
    if column_map:
        raw = raw.rename(columns=dict(column_map))
    if validate:
        report = validate_metadata(raw, source=str(path), image_root=path.parent, check_images=check_images)
        report.raise_if_errors()
    frame = normalise_metadata(raw)
    frame.attrs["source"] = str(path)
    frame.attrs["image_root"] = str(path.resolve().parent)
    return frame


def normalise_metadata(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text columns and parse numbers (unparsable numbers become NaN; `validate_metadata` reports them).

    Args:
        frame (`pd.DataFrame`):
            A raw metadata table.

    Returns:
        `pd.DataFrame`: a copy with a fresh 0-based index.
    """
    frame = frame.copy()
    for column in _STRING_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].fillna("").astype(str).str.strip()
    for column in _NUMBER_RANGES:
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    if "split" in frame.columns:
        lowered = frame["split"].str.lower()
        frame["split"] = lowered.map(SPLIT_ALIASES).fillna(lowered)
    return frame.reset_index(drop=True)


def validate_metadata(
    frame: pd.DataFrame,
    source: str = "<table>",
    image_root: str | os.PathLike | None = None,
    check_images: bool = False,
) -> ValidationReport:
    """Check a (normalised) metadata table and collect every problem.

    Args:
        frame (`pd.DataFrame`):
            The table, as returned by `read_metadata(validate=False)` or built in memory.
        source (`str`, *optional*, defaults to ``"<table>"``):
            Name used in messages (the file path).
        image_root (`str` or `os.PathLike`, *optional*):
            Folder relative image paths are resolved against; defaults to ``frame.attrs["image_root"]`` or the
            current folder.
        check_images (`bool`, *optional*, defaults to `False`):
            Open each image / tile and report missing or unreadable ones.

    Returns:
        `ValidationReport`: empty when the table is valid.
    """
    report = ValidationReport(source=source, n_rows=len(frame))
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    for column in missing:
        report.add(
            "missing_column", f"required column {column!r} is missing (found {list(frame.columns)})", None, column
        )
    if missing:
        return report
    rows = np.arange(1, len(frame) + 1)
    for column in ("image", "location_id", "street", "district"):
        empty = frame[column].fillna("").astype(str).str.strip() == ""
        for row in rows[empty.to_numpy()]:
            report.add("empty_value", "empty value", int(row), column)
    for column, (low, high) in _NUMBER_RANGES.items():
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
        raw = frame[column].astype(str).str.strip()
        blank = raw.isin(["", "nan", "None", "<NA>"]).to_numpy()
        required = column in REQUIRED_COLUMNS
        bad = np.isnan(values) & (~blank | required)
        for row in rows[bad]:
            text = raw.iloc[row - 1]
            report.add("bad_number", f"{text!r} is not a number", int(row), column)
        outside = ~np.isnan(values) & ((values < low) | (values > high))
        for row in rows[outside]:
            report.add("out_of_range", f"{values[row - 1]} is outside [{low:g}, {high:g}]", int(row), column)
    if "split" in frame.columns:
        _validate_split_column(frame, rows, report)
    images = frame["image"].astype(str)
    duplicated = images.duplicated(keep="first") & (images != "")
    if duplicated.any():
        first_row = {name: i + 1 for i, name in reversed(list(enumerate(images)))}
        for row in rows[duplicated.to_numpy()]:
            name = images.iloc[row - 1]
            report.add("duplicate_image", f"{name!r} already listed in row {first_row[name]}", int(row), "image")
    if check_images:
        root = Path(image_root if image_root is not None else frame.attrs.get("image_root", "."))
        check_image_files(frame, root, report)
    return report


def _validate_split_column(frame: pd.DataFrame, rows: np.ndarray, report: ValidationReport) -> None:
    """Every ``split`` value names a known split, and all views of a location share one split."""
    raw = frame["split"].fillna("").astype(str).str.strip()
    names = raw.str.lower().map(SPLIT_ALIASES)
    for row in rows[names.isna().to_numpy()]:
        report.add(
            "bad_split",
            f"{raw.iloc[row - 1]!r} is not a split (use train, validation or test)",
            int(row),
            "split",
        )
    known = names.notna().to_numpy()
    locations = frame["location_id"].astype(str).str.strip()
    per_location = pd.DataFrame({"location": locations[known], "split": names[known]}).groupby("location")["split"]
    mixed = per_location.nunique()
    for location in mixed.index[mixed.to_numpy() > 1]:
        where = np.flatnonzero((locations == location).to_numpy() & known)
        first = where[0]
        other = next(i for i in where if names.iloc[i] != names.iloc[first])
        report.add(
            "split_mixes_location",
            f"location {location!r} is in split {names.iloc[other]!r} here but {names.iloc[first]!r} in row "
            f"{first + 1}: the views of one location must share a split",
            int(other + 1),
            "split",
        )


def check_image_files(frame: pd.DataFrame, image_root: str | os.PathLike, report: ValidationReport) -> None:
    """Open every file of the path columns and add ``missing_image`` / ``unreadable_image`` issues.

    Args:
        frame (`pd.DataFrame`):
            The metadata table.
        image_root (`str` or `os.PathLike`):
            Folder that relative paths are resolved against.
        report (`ValidationReport`):
            Report to add issues to; ``images_checked`` is increased by the number of files opened.
    """
    from PIL import Image
    from tqdm.auto import tqdm

    root = Path(image_root)
    columns = [column for column in PATH_COLUMNS if column in frame.columns]
    seen: dict[str, tuple[str, str] | None] = {}
    total = len(frame) * len(columns)
    with tqdm(total=total, desc="checking images", unit="file", disable=total < 1000) as progress:
        for column in columns:
            for row, name in enumerate(frame[column].astype(str), start=1):
                progress.update()
                if not name:
                    continue
                if name not in seen:
                    path = Path(name) if os.path.isabs(name) else root / name
                    if not path.is_file():
                        seen[name] = ("missing_image", f"{name!r} not found (looked for {path})")
                    else:
                        try:
                            with Image.open(path) as image:
                                image.verify()
                            seen[name] = None
                        except Exception as err:  # PIL raises many types for corrupt files
                            seen[name] = ("unreadable_image", f"{name!r} cannot be read as an image: {err}")
                        report.images_checked += 1
                problem = seen[name]
                if problem is not None:
                    report.add(problem[0], problem[1], row, column)
