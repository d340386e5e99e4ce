"""The city a demo is about: its street views (examples), its street and district names, and its map.

`DemoCity.load` takes what the data commands write:

- a VQA dataset folder (``addressvlm data build-vqa``): the examples are its test split's street views (images the
  model did not train on); the names and coordinates come from the metadata table it was built from;
- a city folder (``addressvlm data synth-city``, or any folder holding ``metadata.csv`` / ``metadata.parquet``) or a
  metadata table itself: the examples are spread over its locations (its ``test`` rows when it has a split column).

The map shows the predicted street. For the offline city it is the OpenStreetMap rendering of the probe (the
city's road geometries, `addressvlm.inference.street_map`); a folder with a ``streets.geojson`` uses that file; any
other (real) city is drawn from the metadata's coordinates, one dot per street-view location.

Map data © OpenStreetMap contributors (ODbL) where OSM geometries are drawn.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


__all__ = ["DemoCity"]

_TABLE_NAMES = ("metadata.csv", "metadata.parquet", "metadata.tsv")
_HIGHLIGHT = "#d62728"
_DISTRICT = "#1f77b4"


def _table_in(folder: Path) -> Path | None:
    return next((folder / name for name in _TABLE_NAMES if (folder / name).is_file()), None)


def _vqa_source(dataset_dir: Path) -> Path:
    """The metadata table a VQA dataset was built from (``build_info.json`` -> ``source``)."""
    info = json.loads((dataset_dir / "build_info.json").read_text(encoding="utf-8"))
    source = info.get("source")
    if not source:
        raise ValueError(f"{dataset_dir}/build_info.json names no source metadata table")
    candidates = [Path(source), dataset_dir / source, dataset_dir.parent / source]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise FileNotFoundError(f"{dataset_dir}: its metadata table {source} was not found")
    return found


@functools.lru_cache(maxsize=2)
def _osm_geometries(city: str):
    """The road geometries of an offline city (read once per process: pyrosm takes seconds)."""
    from addressvlm.inference.street_map import load_city_geometries

    return load_city_geometries(city)


def _geometries_beside(table: Path):
    """OSM or GeoJSON street geometries of the city whose table is ``table``; `None` for a real city without them."""
    from addressvlm.inference.street_map import load_geojson_streets

    folder = table.parent
    if (folder / "streets.geojson").is_file():
        return load_geojson_streets(folder / "streets.geojson"), "streets.geojson"
    if (folder / "city_info.json").is_file():
        city = json.loads((folder / "city_info.json").read_text(encoding="utf-8")).get("arguments", {}).get("city")
        if city:
            return _osm_geometries(str(city)), "OpenStreetMap"
    return None, "metadata coordinates"


def _spread(rows: Sequence[dict], n: int) -> list[dict]:
    """``n`` rows spread evenly over ``rows``: one view per location, more views only when locations run out."""
    seen, unique, others = set(), [], []
    for row in rows:
        (others if row.get("location_id") in seen else unique).append(row)
        seen.add(row.get("location_id"))
    if len(unique) < n:
        return unique + others[: n - len(unique)]
    return [unique[int(i)] for i in np.linspace(0, len(unique) - 1, n).round()]


@dataclass
class DemoCity:
    """Names, coordinates, example street views and the street map of one city.

    Attributes:
        name (`str`): the city's name (for titles).
        table (`pd.DataFrame`): the metadata table (``street``, ``district``, ``lat``, ``lon``, absolute ``image``).
        examples (`list[dict]`): example rows (``image``, ``street``, ``district``).
        geometries (`dict`, *optional*): street name -> (lon, lat) polylines; `None` for a city drawn from points.
        map_source (`str`): what the map is drawn from.
        image_root (`str`): the folder holding the street views.
    """

    name: str
    table: Any
    examples: list[dict]
    geometries: Mapping[str, Sequence[np.ndarray]] | None
    map_source: str
    image_root: str
    _matcher: Any = field(default=None, repr=False)
    _districts: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike, n_examples: int = 8) -> DemoCity:
        """Load a VQA dataset folder, a city folder or a metadata table (see the module docstring).

        Args:
            path (`str` or `os.PathLike`): the folder or table.
            n_examples (`int`, *optional*, defaults to 8): example street views to offer.
        """
        from addressvlm.data.metadata import read_metadata

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"--city {path} does not exist")
        test_rows = None
        if path.is_dir() and (path / "build_info.json").is_file():
            from addressvlm.data import load_address_dataset

            table_path = _vqa_source(path)
            splits = load_address_dataset(path)
            split = next((s for s in ("test", "validation", "train") if s in splits), None)
            if split is not None:
                test_rows = splits[split].select_columns(["image", "location_id", "street", "district"]).to_list()
        elif path.is_dir():
            table_path = _table_in(path)
            if table_path is None:
                raise FileNotFoundError(
                    f"--city {path}: no {' / '.join(_TABLE_NAMES)} in it, and no build_info.json of a VQA dataset"
                )
        else:
            table_path = path
        table = read_metadata(table_path).copy()
        root = table.attrs["image_root"]
        table["image"] = [p if os.path.isabs(p) else os.path.normpath(os.path.join(root, p)) for p in table["image"]]
        if test_rows is None:
            has_test = "split" in table.columns and (table["split"] == "test").any()
            test_rows = (table[table["split"] == "test"] if has_test else table).to_dict("records")
        where = {image: (lat, lon) for image, lat, lon in zip(table["image"], table["lat"], table["lon"])}
        examples = [
            {"image": row["image"], "street": row["street"], "district": row["district"], "location": where.get(
                os.path.normpath(row["image"]))}
            for row in _spread(test_rows, n_examples)
        ]  # fmt: skip
        geometries, source = _geometries_beside(table_path)
        name = str(table["city"].iloc[0]) if "city" in table.columns and len(table) else table_path.parent.name
        return cls(name.title(), table, examples, geometries, source, root)

    # ------------------------------------------------------------------------------------------------ names
    @property
    def streets(self) -> list[str]:
        """The city's streets, sorted."""
        return sorted(set(self.table["street"]))

    @property
    def districts(self) -> list[str]:
        """The city's districts, sorted."""
        return sorted(set(self.table["district"]))

    def match_street(self, answer: str | None) -> str | None:
        """The street of this city that ``answer`` names (after the metric's normalisation), or `None`."""
        from addressvlm.inference.probe import StreetMatcher

        if self._matcher is None:
            self._matcher = StreetMatcher(self.streets)
        return self._matcher(answer or "")

    def match_district(self, answer: str | None) -> str | None:
        """The district of this city that ``answer`` names (after the metric's normalisation), or `None`."""
        from addressvlm.inference.metric import load_address_accuracy, metric_functions

        normalize = metric_functions(load_address_accuracy()).normalize_address
        if not self._districts:
            self._districts = {normalize(d, "district"): d for d in self.districts}
        return self._districts.get(normalize(answer or "", "district"))

    def locate(self, answers: Mapping[str, str]) -> tuple[str | None, str | None]:
        """The (street, district) of the city named by the standard answers (``street``, ``district``,
        ``street_district``); the combined answer fills in what the single ones do not name."""
        from addressvlm.inference.metric import load_address_accuracy, metric_functions

        split = metric_functions(load_address_accuracy()).split_street_district
        street_part, district_part = split(answers.get("street_district") or "")
        street = self.match_street(answers.get("street")) or self.match_street(street_part)
        district = self.match_district(answers.get("district")) or self.match_district(district_part)
        return street, district

    def example(self, image: str | os.PathLike) -> dict | None:
        """The example street view with the file name of ``image`` (the page gets a copy of the example file under
        its own folder): ``image``, ``street``, ``district`` and ``location`` (lat, lon); `None` for other photos."""
        name = Path(image).name
        return next((row for row in self.examples if Path(row["image"]).name == name), None)

    # ------------------------------------------------------------------------------------------------ map
    def draw_map(
        self,
        street: str | None,
        district: str | None = None,
        true_location: tuple[float, float] | None = None,
        size: float = 5.0,
        dpi: int = 100,
    ):
        """The city map with ``street`` highlighted and the street views of ``district`` marked.

        Args:
            street (`str`, *optional*): a street of the city (see `match_street`), drawn thick in red.
            district (`str`, *optional*): a district of the city; its street-view locations are drawn in blue.
            true_location (`tuple[float, float]`, *optional*): (lat, lon) where the photo was taken (known for the
                examples), drawn as a yellow star.
            size (`float`, *optional*, defaults to 5.0): figure size in inches.
            dpi (`int`, *optional*, defaults to 100): resolution.

        Returns:
            `PIL.Image.Image`: the rendered map.
        """
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from PIL import Image

        from addressvlm.inference.street_map import OSM_CREDIT

        lat = self.table["lat"].to_numpy(dtype=float)
        lon = self.table["lon"].to_numpy(dtype=float)
        fig = Figure(figsize=(size, size), dpi=dpi)
        ax = fig.add_subplot()
        if self.geometries:
            lines = [line for parts in self.geometries.values() for line in parts]
            ax.add_collection(LineCollection(lines, colors="#b8b8b8", linewidths=0.7, zorder=1))
        ax.scatter(lon, lat, s=4, color="#8a8a8a", zorder=2, label="street views")
        if district is not None:
            mask = (self.table["district"] == district).to_numpy()
            ax.scatter(lon[mask], lat[mask], s=10, color=_DISTRICT, zorder=3, label=f"district: {district}")
        if street is not None:
            parts = (self.geometries or {}).get(street, [])
            if parts:
                ax.add_collection(LineCollection(parts, colors=_HIGHLIGHT, linewidths=3.0, zorder=4, label=street))
            mask = (self.table["street"] == street).to_numpy()
            ax.scatter(lon[mask], lat[mask], s=22, color=_HIGHLIGHT, edgecolors="black", linewidths=0.4, zorder=5,
                       label=None if parts else street)  # fmt: skip
        if true_location is not None:
            ax.plot([true_location[1]], [true_location[0]], marker="*", markersize=15, color="#ffd700",
                    markeredgecolor="black", linestyle="none", zorder=6, label="true location")  # fmt: skip
        south, north = np.nanmin(lat), np.nanmax(lat)
        west, east = np.nanmin(lon), np.nanmax(lon)
        pad_y, pad_x = 0.08 * (north - south or 1e-3), 0.08 * (east - west or 1e-3)
        ax.set_xlim(west - pad_x, east + pad_x)
        ax.set_ylim(south - pad_y, north + pad_y)
        ax.set_aspect(1.0 / max(math.cos(math.radians((south + north) / 2)), 1e-6))
        ax.set_axis_off()
        predicted = f"predicted street: {street}" if street else "the answer names no street of this city"
        ax.set_title(f"{self.name}: {predicted}", fontsize=9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7, frameon=False, ncol=3)
        if self.geometries is not None and self.map_source == "OpenStreetMap":
            fig.text(0.99, 0.01, OSM_CREDIT, ha="right", va="bottom", fontsize=6, color="#444444")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        buffer.seek(0)
        return Image.open(buffer).convert("RGB")
