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
from typing import Any

import numpy as np
import pandas as pd

from .names import name_keys, spelling_variants, unify_spellings
from .validation import ValidationReport


__all__ = [
    "OPTIONAL_COLUMNS",
    "PATH_COLUMNS",
    "REQUIRED_COLUMNS",
    "SPLIT_ALIASES",
    "check_image_files",
    "column_renames",
    "input_paths",
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

NAME_COLUMNS: tuple[str, ...] = ("street", "district")
"""Columns holding names (checked for letters and spelling variants; see `addressvlm.data.names`)."""

PATH_COLUMNS: tuple[str, ...] = ("image", "satellite", "satellite_unlabeled")
"""Columns holding file paths (relative to the table's folder unless absolute)."""

_STRING_COLUMNS = ("image", "location_id", "street", "district", "satellite", "satellite_unlabeled", "city", "split")
_NUMBER_RANGES = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0), "heading": (-360.0, 360.0)}


def input_paths(metadata, image_root=None, *others) -> list:
    """The files and folders a builder reads: the table, its image root (its folder by default) and ``others``."""
    tables = metadata if isinstance(metadata, (list, tuple)) else [metadata]
    paths: list = [image_root, *others]
    for table in tables:
        if isinstance(table, pd.DataFrame):
            paths.append(table.attrs.get("image_root"))
        elif table is not None:
            paths += [table, None if image_root is not None else Path(table).parent]
    return paths


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
        try:
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise ValueError(
                f"{path}: the file is empty; a metadata table starts with a header row naming its columns "
                f"({', '.join(REQUIRED_COLUMNS)})"
            ) from None
        except UnicodeDecodeError as err:
            raise ValueError(_encoding_error(path)) from err
        except pd.errors.ParserError as err:
            raise ValueError(f"{path}: not a valid {suffix[1:].upper()} table: {err}") from None
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read the Parquet file: {err}") from None
    raise ValueError(f"{path}: unsupported metadata format {suffix!r}; use .csv, .tsv or .parquet")


def _encoding_error(path: Path) -> str:
    """Where a text table stops being UTF-8: line (and data row), column and the offending byte."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        row = f" (data row {line - 1})" if line > 1 else " (the header)"
        return (
            f"{path}: line {line}{row}, character {column}: byte 0x{data[err.start]:02x} is not UTF-8; "
            "save the table as UTF-8 (e.g. from Latin-1: iconv -f latin1 -t utf-8)"
        )
    return f"{path}: not UTF-8 text; save the table as UTF-8"


def column_renames(column_map: Mapping[str, Any] | str | os.PathLike) -> dict[str, str]:
    """The column renames of ``column_map``: a mapping, or the path of a YAML/JSON mapping file
    (`addressvlm.data.adapters.load_column_mapping`)."""
    from .adapters import load_column_mapping

    return dict(load_column_mapping(column_map)["columns"])


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
        column_map (`Mapping[str, str]`, `str` or `os.PathLike`, *optional*):
            ``{name in the file: name in the schema}`` for tables with other column names, or the YAML/JSON file
            holding it (see [`column_renames`]).
        check_images (`bool`, *optional*, defaults to `False`):
            Also open and decode every image (and satellite tile) and report missing, unreadable or truncated
            files.
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
        raw = raw.rename(columns=column_renames(column_map))
    if validate:
        report = validate_metadata(raw, source=str(path), image_root=path.parent, check_images=check_images)
        report.raise_if_errors()
    frame = normalise_metadata(raw)
    frame.attrs["source"] = str(path)
    frame.attrs["image_root"] = str(path.resolve().parent)
    return frame


def normalise_metadata(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text columns, parse numbers (unparsable numbers become NaN; `validate_metadata` reports them) and write
    each street and district name in one spelling (`addressvlm.data.names.unify_spellings`: ``"street 1"`` and
    ``"Street 1"`` become the more frequent of the two; `validate_metadata` warns about them).

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
    return unify_spellings(frame.reset_index(drop=True), NAME_COLUMNS)


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
    if len(frame) == 0:
        report.add("empty_table", "the table has a header but no rows")
        return report
    rows = np.arange(1, len(frame) + 1)
    for column in ("image", "location_id", "street", "district"):
        empty = frame[column].fillna("").astype(str).str.strip() == ""
        for row in rows[empty.to_numpy()]:
            report.add("empty_value", "empty value", int(row), column)
    _check_names(frame, report)
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
    root = Path(image_root if image_root is not None else frame.attrs.get("image_root", "."))
    images = frame["image"].fillna("").astype(str).str.strip().tolist()
    base = os.path.abspath(root)
    files = [_file_of(base, name) for name in images]
    named = np.asarray([bool(f) for f in files], dtype=bool)
    duplicated = pd.Series(files, dtype=object).duplicated(keep="first").to_numpy() & named
    if duplicated.any():
        first_row = {name: i + 1 for i, name in reversed(list(enumerate(files)))}
        for row in rows[duplicated]:
            name, first = images[row - 1], first_row[files[row - 1]]
            same = "" if name == images[first - 1] else f" (as {images[first - 1]!r}: the same file)"
            report.add("duplicate_image", f"{name!r} already listed in row {first}{same}", int(row), "image")
    _check_locations(frame, report)
    if check_images:
        check_image_files(frame, root, report)
    else:
        _warn_missing_images(images, files, root, report)
    return report


def _file_of(base: str, name: str) -> str:
    """The file a row names, however it is written (``images/../images/a.jpg``, an absolute path), as one string."""
    if not name:
        return ""
    if os.sep == "/" and not name.startswith("/") and "./" not in name and "//" not in name and name[-1] != ".":
        return f"{base}/{name}"  # already normal: the common case, without normpath's cost
    return os.path.normpath(os.path.join(base, name))


_FAR_M = 1000.0
"""Rows of one ``location_id`` farther apart than this (metres) are an error: one location, one place."""


def _check_names(frame: pd.DataFrame, report: ValidationReport) -> None:
    """Names without any letter or digit are errors; names written in several ways are warnings."""
    for column in NAME_COLUMNS:
        names = frame[column].fillna("").astype(str).str.strip()
        keys = name_keys(names)
        for row in np.flatnonzero(((keys == "") & (names != "")).to_numpy()):
            report.add(
                "no_letters",
                f"{names.iloc[row]!r} has no letter or digit: no answer could name it",
                int(row) + 1,
                column,
            )
        for variant in spelling_variants(frame, column, "city"):
            described = ", ".join(f"{name!r} ({_rows(rows)})" for name, rows in variant["spellings"].items())
            report.warn(
                "name_variants",
                f"{described} differ only in case, accents, spacing or punctuation, which answers are scored "
                f"without: they are one {column}, written {variant['chosen']!r}",
                variant["spellings"][next(iter(variant["spellings"]))][0],
                column,
            )


def _rows(rows: list[int], shown: int = 4) -> str:
    text = ", ".join(str(row) for row in rows[:shown])
    more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
    return f"row{'s' if len(rows) > 1 else ''} {text}{more}"


def _check_locations(frame: pd.DataFrame, report: ValidationReport) -> None:
    """The rows of one location must be at one place (error) and should name one street and district (warning)."""
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype="float64")
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype="float64")
    placed = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)  # bad coordinates are reported on their own
    lat, lon = np.where(placed, lat, np.nan), np.where(placed, lon, np.nan)
    location = frame["location_id"].fillna("").astype(str).str.strip()
    scope = location + ("\x1f" + frame["city"].fillna("").astype(str) if "city" in frame.columns else "")
    first = pd.Series(np.arange(len(frame)), index=frame.index).groupby(scope.to_numpy()).transform("first")
    first = first.to_numpy()
    lat0, lon0 = np.radians(lat[first]), np.radians(lon[first])
    a = (
        np.sin((np.radians(lat) - lat0) / 2) ** 2
        + np.cos(lat0) * np.cos(np.radians(lat)) * np.sin((np.radians(lon) - lon0) / 2) ** 2
    )
    distance = 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    far = (distance > _FAR_M) & (location != "").to_numpy() & placed & placed[first]
    for row in np.flatnonzero(far):
        report.add(
            "inconsistent_location",
            f"location {location.iloc[row]!r} is {distance[row] / 1000:.1f} km from its row {first[row] + 1} "
            f"({lat[first[row]]:g}, {lon[first[row]]:g}); give each place its own location_id",
            int(row) + 1,
            "lat",
        )
    for column in NAME_COLUMNS:
        keys = name_keys(frame[column])
        keys = keys.where(keys != "")  # names without letters are errors already
        counts = keys.groupby(scope.to_numpy()).nunique()
        for name in counts.index[counts.to_numpy() > 1][:20]:
            rows = np.flatnonzero((scope == name).to_numpy())
            spelled = {}
            for row in rows:
                spelled.setdefault(str(frame[column].iloc[row]).strip(), int(row) + 1)
            described = ", ".join(f"{value!r} (row {row})" for value, row in spelled.items())
            report.warn(
                "mixed_location",
                f"location {location.iloc[rows[0]]!r} has several {column}s: {described}",
                int(rows[0]) + 1,
                column,
            )


def _warn_missing_images(images: list[str], files: list[str], root: Path, report: ValidationReport) -> None:
    """Warn about image files that do not exist (a cheap check: one directory listing per folder, no file is
    opened; ``check_images`` opens every file)."""
    listings: dict[str, set[str] | frozenset] = {}
    missing = []
    for row, (name, path) in enumerate(zip(images, files), start=1):
        if not name:
            continue
        folder, _, base = path.rpartition(os.sep)
        listing = listings.get(folder)
        if listing is None:
            try:
                listing = set(os.listdir(folder or os.sep))
            except OSError:
                listing = frozenset()
            listings[folder] = listing
        if base not in listing:
            missing.append(row)
    if missing:
        report.warn(
            "missing_image",
            f"{len(missing)} of {len(images)} image files do not exist ({_rows(missing)}, looked for under {root}); "
            "training stops on them: fix the paths, or pass --check-images to make this an error",
            missing[0],
            "image",
        )


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
    """Open and fully decode every file of the path columns; add ``missing_image`` / ``unreadable_image`` issues.

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
                                image.load()  # decodes everything: a truncated file fails here
                            seen[name] = None
                        except Exception as err:  # PIL raises many types for corrupt files
                            seen[name] = ("unreadable_image", f"{name!r} cannot be read as an image: {err}")
                        report.images_checked += 1
                problem = seen[name]
                if problem is not None:
                    report.add(problem[0], problem[1], row, column)
