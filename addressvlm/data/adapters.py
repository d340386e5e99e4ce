"""Adapters from the image address localization releases to the metadata schema (``docs/data_format.md`` §1).

**AddressCLIP annotations** (Pitts-IAL, SF-IAL-Base). The archive is distributed off-repo and its column
names are not public, so the adapter takes a user-supplied mapping (a dict or a YAML file)::

    columns:            # {column in the release: column in our schema}
      img_path: image
      latitude: lat
      longitude: lon
    address_column: address        # optional: one "Main St & Cross St, District" string to split
    location_from: pitts_name      # location_id column, or "pitts_name" / "latlon" / "image"

Without a mapping, `ADDRESSCLIP_DEFAULT_GUESS` is tried: it recognises common spellings of each column
(``image_path``, ``latitude``, ``neighborhood``...). AddressCLIP addresses read "main street & crossing
street(s), neighbourhood" (e.g. ``"Forbes Avenue & Craig Street, Oakland"``); `split_addressclip_address` keeps
the main street (street-level answers, as AddressCLIP's SA metric) and the neighbourhood (district).

**SF-XL file names** carry their metadata in ``@``-separated fields::

    @UTM_east@UTM_north@UTM_zone_number@UTM_zone_letter@lat@lon@pano_id@tile_num@heading@pitch@roll@height@timestamp@note@.jpg

`parse_sfxl_names` parses them (vectorised); `sfxl_metadata` builds a table whose ``location_id`` is the
panorama id or the UTM position rounded to a grid, and joins the street/district addresses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .metadata import normalise_metadata, read_table, validate_metadata
from .validation import MetadataError, ValidationReport


__all__ = [
    "ADDRESSCLIP_DEFAULT_GUESS",
    "SFXL_FIELDS",
    "load_column_mapping",
    "parse_sfxl_names",
    "read_addressclip_table",
    "sfxl_metadata",
    "split_addressclip_address",
]

ADDRESSCLIP_DEFAULT_GUESS: dict[str, tuple[str, ...]] = {
    "image": ("image", "image_path", "img_path", "img", "path", "file", "filename", "file_name", "image_name"),
    "lat": ("lat", "latitude", "gps_lat"),
    "lon": ("lon", "lng", "long", "longitude", "gps_lon"),
    "street": ("street", "main_street", "street_name", "road"),
    "district": ("district", "neighborhood", "neighbourhood", "neighbor", "region", "area"),
    "location_id": ("location_id", "location", "place_id", "loc_id", "pano_id"),
    "heading": ("heading", "yaw"),
    "address": ("address", "addr", "full_address", "sub_street_address"),
}
"""Default guess for AddressCLIP columns: schema column -> accepted spellings (case-insensitive)."""

SFXL_FIELDS: tuple[str, ...] = (
    "utm_east",
    "utm_north",
    "utm_zone_number",
    "utm_zone_letter",
    "lat",
    "lon",
    "pano_id",
    "tile_num",
    "heading",
    "pitch",
    "roll",
    "height",
    "timestamp",
    "note",
)
"""The fields of an SF-XL file name, in order."""

_SFXL_NUMERIC = ("utm_east", "utm_north", "lat", "lon", "heading")


def load_column_mapping(mapping: Mapping[str, Any] | str | os.PathLike | None) -> dict[str, Any]:
    """Load an adapter mapping from a dict or a YAML/JSON file.

    Args:
        mapping (`Mapping`, `str` or `os.PathLike`, *optional*):
            Either ``{"columns": {...}, "address_column": ..., "location_from": ...}``, a flat
            ``{release column: schema column}`` dict, or the path of a YAML/JSON file holding one of those.

    Returns:
        `dict`: with keys ``columns`` (dict), ``address_column`` (str or None), ``location_from`` (str or None).
    """
    if mapping is None:
        return {"columns": {}, "address_column": None, "location_from": None}
    source = "column mapping"
    if isinstance(mapping, (str, os.PathLike)):
        import yaml

        path = source = Path(mapping)
        try:
            with open(path, encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle)
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML/JSON: {str(err).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a column mapping must be a mapping (YAML dict), got {type(loaded).__name__}")
        mapping = loaded
    mapping = dict(mapping)
    if "columns" not in mapping:
        mapping = {"columns": mapping}
    unknown = set(mapping) - {"columns", "address_column", "location_from"}
    if unknown:
        raise ValueError(f"{source}: unknown keys {sorted(unknown)} (use columns, address_column, location_from)")
    columns = mapping.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise ValueError(
            f"{source}: 'columns' must map each column of the file to a schema column, e.g. "
            f"{{img_path: image, latitude: lat}}; got {columns!r}"
        )
    return {
        "columns": dict(columns),
        "address_column": mapping.get("address_column"),
        "location_from": mapping.get("location_from"),
    }


def split_addressclip_address(addresses: pd.Series) -> pd.DataFrame:
    """Split AddressCLIP address strings into main street and district.

    ``"Forbes Avenue & Craig Street, Oakland"`` -> street ``"Forbes Avenue"``, district ``"Oakland"``: the
    district is the text after the last comma, the street is the part before the first ``&`` (crossing
    streets are dropped).

    Args:
        addresses (`pd.Series`):
            Address strings.

    Returns:
        `pd.DataFrame`: columns ``street`` and ``district`` (empty strings where a part is missing).
    """
    text = addresses.fillna("").astype(str)
    parts = text.str.rsplit(",", n=1, expand=True).reindex(columns=[0, 1], fill_value="").fillna("")
    has_comma = text.str.contains(",", regex=False)
    street_part = parts[0].where(has_comma, text)
    district = parts[1].where(has_comma, "")
    street = street_part.str.split("&", n=1).str[0]
    return pd.DataFrame({"street": street.str.strip(), "district": district.str.strip()})


def _guess_columns(columns: Iterable[str]) -> dict[str, str]:
    lower = {str(column).lower(): column for column in columns}
    guessed = {}
    for target, spellings in ADDRESSCLIP_DEFAULT_GUESS.items():
        for spelling in spellings:
            if spelling in lower and lower[spelling] not in guessed:
                guessed[lower[spelling]] = target
                break
    return guessed


def read_addressclip_table(
    path: str | os.PathLike,
    mapping: Mapping[str, Any] | str | os.PathLike | None = None,
    location_round_decimals: int = 5,
) -> pd.DataFrame:
    """Read an AddressCLIP annotation table into the metadata schema and validate it.

    Args:
        path (`str` or `os.PathLike`):
            The release's CSV/Parquet annotation file.
        mapping (`Mapping`, `str` or `os.PathLike`, *optional*):
            Column mapping (see the module docstring). Without it, `ADDRESSCLIP_DEFAULT_GUESS` is used.
        location_round_decimals (`int`, *optional*, defaults to 5):
            For ``location_from="latlon"``: decimals of lat/lon forming the location id (5 ~ 1 m).

    Returns:
        `pd.DataFrame`: the metadata table (``attrs["image_root"]`` is the file's folder).

    Raises:
        `MetadataError`: when required columns cannot be found or rows are invalid.
    """
    path = Path(path)
    config = load_column_mapping(mapping)
    raw = read_table(path)
    columns = config["columns"] or _guess_columns(raw.columns)
    report = ValidationReport(source=str(path), n_rows=len(raw))
    for source_column in columns:
        if source_column not in raw.columns:
            report.add("unmapped_column", f"mapped column {source_column!r} is not in the file", None, source_column)
    report.raise_if_errors()
    frame = raw.rename(columns=columns)
    address_column = config["address_column"] or ("address" if "address" in frame.columns else None)
    if address_column is not None and not {"street", "district"} <= set(frame.columns):
        if address_column not in frame.columns:
            report.add("missing_column", "address column not found", None, address_column)
            raise MetadataError(report)
        split = split_addressclip_address(frame[address_column])
        for column in ("street", "district"):
            if column not in frame.columns:
                frame[column] = split[column]
    location_from = config["location_from"]
    if "location_id" not in frame.columns or location_from is not None:
        frame["location_id"] = _derive_location_ids(frame, location_from or "latlon", location_round_decimals)
    report = validate_metadata(frame, source=str(path), image_root=path.parent)
    report.raise_if_errors()
    frame = normalise_metadata(frame)
    frame.attrs["source"] = str(path)
    frame.attrs["image_root"] = str(path.resolve().parent)
    return frame


def _derive_location_ids(frame: pd.DataFrame, location_from: str, decimals: int) -> pd.Series:
    if location_from == "pitts_name":
        # Pittsburgh-250k: "000/000123_pitch1_yaw4.jpg" -> place "000123" (its views share the prefix).
        return frame["image"].astype(str).str.rsplit("/", n=1).str[-1].str.split("_", n=1).str[0]
    if location_from == "latlon":
        lat = pd.to_numeric(frame["lat"], errors="coerce").round(decimals)
        lon = pd.to_numeric(frame["lon"], errors="coerce").round(decimals)
        return lat.map(lambda v: f"{v:.{decimals}f}") + "_" + lon.map(lambda v: f"{v:.{decimals}f}")
    if location_from == "image":
        return frame["image"].astype(str)
    if location_from in frame.columns:
        return frame[location_from].astype(str)
    raise ValueError(f"location_from must be 'pitts_name', 'latlon', 'image' or a column name, got {location_from!r}")


def parse_sfxl_names(names: Iterable[str] | pd.Series, source: str = "<SF-XL names>") -> pd.DataFrame:
    """Parse SF-XL file names (vectorised).

    Args:
        names (`Iterable[str]` or `pd.Series`):
            File names or paths; only the base name is parsed.
        source (`str`, *optional*):
            Name used in error messages.

    Returns:
        `pd.DataFrame`: one row per name with the `SFXL_FIELDS` columns (``utm_east``, ``utm_north``, ``lat``,
        ``lon``, ``heading`` as floats, the others as strings) and ``image`` (the name as given).

    Raises:
        `MetadataError`: listing each name with the wrong number of fields (``bad_file_name``) or a
        non-numeric coordinate (``bad_number``), with its 1-based position.
    """
    images = pd.Series(list(names), dtype=str)
    base = images.str.replace("\\", "/", regex=False).str.rsplit("/", n=1).str[-1]
    parts = base.str.split("@")
    n_fields = parts.str.len().to_numpy()
    report = ValidationReport(source=source, n_rows=len(images))
    # "@f1@...@f14@.jpg" splits into "", 14 fields, extension.
    wrong = np.flatnonzero(n_fields != len(SFXL_FIELDS) + 2)
    for index in wrong:
        report.add(
            "bad_file_name",
            f"{base.iloc[index]!r} has {n_fields[index] - 2} '@' fields, expected {len(SFXL_FIELDS)}",
            int(index) + 1,
            "image",
        )
    report.raise_if_errors()
    table = pd.DataFrame(parts.str[1:-1].tolist(), columns=list(SFXL_FIELDS))
    for column in _SFXL_NUMERIC:
        values = pd.to_numeric(table[column], errors="coerce")
        for index in np.flatnonzero(values.isna().to_numpy()):
            report.add("bad_number", f"{table[column].iloc[index]!r} is not a number", int(index) + 1, column)
        table[column] = values.astype("float64")
    report.raise_if_errors()
    table.insert(0, "image", images.to_numpy())
    return table


def sfxl_metadata(
    images: Iterable[str] | pd.Series,
    addresses: pd.DataFrame | str | os.PathLike | None = None,
    join_on: str = "pano_id",
    location_from: str = "pano_id",
    utm_grid_m: float = 10.0,
) -> pd.DataFrame:
    """Build a metadata table from SF-XL image names, joined with street/district addresses.

    Args:
        images (`Iterable[str]` or `pd.Series`):
            Image paths (relative to the folder the table will live in), named in the SF-XL convention.
        addresses (`pd.DataFrame`, `str` or `os.PathLike`, *optional*):
            Table (or CSV/Parquet file) with ``street`` and ``district`` and the ``join_on`` key column. Without
            it the ``street``/``district`` columns stay empty and validation of the result will flag them.
        join_on (`str`, *optional*, defaults to ``"pano_id"``):
            Key shared by both tables: ``pano_id`` or ``image``.
        location_from (`str`, *optional*, defaults to ``"pano_id"``):
            ``pano_id`` (one location per panorama) or ``utm`` (UTM position rounded to ``utm_grid_m``).
        utm_grid_m (`float`, *optional*, defaults to 10.0):
            Grid size in metres for ``location_from="utm"``.

    Returns:
        `pd.DataFrame`: ``image, location_id, lat, lon, heading, street, district, pano_id``. Rows without an
        address are kept with empty street/district (and reported by `validate_metadata`).
    """
    table = parse_sfxl_names(images)
    if location_from == "pano_id":
        location = table["pano_id"]
    elif location_from == "utm":
        east = np.floor(table["utm_east"] / utm_grid_m + 0.5).astype("int64").astype(str)
        north = np.floor(table["utm_north"] / utm_grid_m + 0.5).astype("int64").astype(str)
        location = table["utm_zone_number"] + table["utm_zone_letter"] + "_" + east + "_" + north
    else:
        raise ValueError(f"location_from must be 'pano_id' or 'utm', got {location_from!r}")
    frame = table[["image", "lat", "lon", "heading", "pano_id"]].copy()
    frame.insert(1, "location_id", location)
    if addresses is None:
        return frame.assign(street="", district="")
    if not isinstance(addresses, pd.DataFrame):
        addresses = read_table(addresses)
    missing = [column for column in (join_on, "street", "district") if column not in addresses.columns]
    if missing:
        raise ValueError(f"address table lacks column(s) {missing}")
    lookup = addresses[[join_on, "street", "district"]].drop_duplicates(subset=[join_on], keep="first")
    merged = frame.merge(lookup, how="left", on=join_on, validate="many_to_one")
    merged[["street", "district"]] = merged[["street", "district"]].fillna("")
    return merged
