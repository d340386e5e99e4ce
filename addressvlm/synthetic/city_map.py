"""Render a satellite-like raster of the offline city from its OSM layers (buildings, roads, water, green).

The whole city is drawn once, north up, at ``metres_per_pixel`` on a local equirectangular grid (rows linear in
latitude, columns in longitude), as a `GeoImage`; `addressvlm.data.tiles` then cuts and labels the tile of each
location. Colours imitate aerial imagery: textured ground, grey asphalt with lighter casings, roofs of varied
greys/browns/reds with a cast shadow, green areas, water and tree crowns.

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from addressvlm.data.tiles import EARTH_RADIUS_M, GeoImage

from .city_osm import CityLayers


__all__ = ["render_city_map"]

_GROUND = (150, 148, 138)
_GREEN = ((92, 128, 70), (78, 115, 62), (104, 138, 80))
_WATER = (58, 86, 112)
_ASPHALT = (88, 88, 92)
_CASING = (170, 168, 160)
_PATH = (196, 186, 164)
_ROOFS = (
    (120, 118, 116),
    (146, 142, 136),
    (105, 96, 92),
    (150, 98, 80),
    (126, 78, 66),
    (172, 168, 160),
    (96, 104, 110),
    (160, 140, 110),
)
_TREE = ((52, 86, 44), (60, 98, 50), (44, 76, 40))
_SHADOW_OFFSET_M = (2.5, 2.0)  # east, south


def _parts(geometry):
    return list(getattr(geometry, "geoms", [geometry]))


def _texture(rng: np.random.Generator, width: int, height: int, base: tuple[int, int, int]) -> Image.Image:
    coarse = rng.normal(0, 9, size=(max(2, height // 48), max(2, width // 48), 1))
    coarse_image = Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)[..., 0])
    smooth = np.asarray(coarse_image.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32) - 128
    fine = rng.normal(0, 5, size=(height, width)).astype(np.float32)
    array = np.asarray(base, dtype=np.float32)[None, None, :] + (smooth + fine)[..., None]
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def render_city_map(
    layers: CityLayers,
    metres_per_pixel: float = 0.5,
    margin_m: float = 150.0,
    seed: int = 0,
) -> GeoImage:
    """Draw the city as a satellite-like `GeoImage`.

    Args:
        layers (`CityLayers`):
            The OSM layers (`addressvlm.synthetic.city_osm.load_city_layers`).
        metres_per_pixel (`float`, *optional*, defaults to 0.5):
            Ground resolution of the raster.
        margin_m (`float`, *optional*, defaults to 150.0):
            Extra ground around the road network, so tiles near the edge stay filled.
        seed (`int`, *optional*, defaults to 0):
            Seed of textures and roof colours.

    Returns:
        `GeoImage`: in EPSG:4326 (local equirectangular).
    """
    rng = np.random.default_rng([seed, 7])
    west, south, east, north = layers.bounds
    lat0 = (south + north) / 2
    dlat = math.degrees(margin_m / EARTH_RADIUS_M)
    dlon = math.degrees(margin_m / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    west, east, south, north = west - dlon, east + dlon, south - dlat, north + dlat
    width_m = math.radians(east - west) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    height_m = math.radians(north - south) * EARTH_RADIUS_M
    width, height = int(math.ceil(width_m / metres_per_pixel)), int(math.ceil(height_m / metres_per_pixel))
    px = 1.0 / metres_per_pixel
    image = _texture(rng, width, height, _GROUND)
    frame = GeoImage(image, west, south, east, north)

    def project(coords) -> list[tuple[float, float]]:
        array = np.asarray(coords, dtype="float64")
        x, y = frame.to_pixel(array[:, 0], array[:, 1])
        return list(zip(x.tolist(), y.tolist()))

    draw = ImageDraw.Draw(image)
    for areas, colours in ((layers.green, _GREEN), (layers.water, (_WATER,))):
        if areas is None:
            continue
        for geometry in areas.geometry:
            colour = colours[int(rng.integers(len(colours)))]
            for part in _parts(geometry):
                draw.polygon(project(part.exterior.coords), fill=colour)
    roads = layers.roads.sort_values("width_m", kind="stable")
    for casing in (True, False):
        for geometry, width_m in zip(roads.geometry, roads["width_m"]):
            is_path = width_m < 4
            if casing and is_path:
                continue
            line_px = max(1, int(round((width_m + (3.0 if casing else 0.0)) * px)))
            colour = _CASING if casing else (_PATH if is_path else _ASPHALT)
            for part in _parts(geometry):
                draw.line(project(part.coords), fill=colour, width=line_px, joint="curve")
    if layers.buildings is not None:
        dx, dy = _SHADOW_OFFSET_M[0] * px, _SHADOW_OFFSET_M[1] * px
        outlines = [
            project(part.exterior.coords) for geometry in layers.buildings.geometry for part in _parts(geometry)
        ]
        for outline in outlines:
            draw.polygon([(x + dx, y + dy) for x, y in outline], fill=(58, 58, 60))
        for outline in outlines:
            base = np.asarray(_ROOFS[int(rng.integers(len(_ROOFS)))]) + rng.integers(-8, 9, size=3)
            draw.polygon(outline, fill=tuple(int(v) for v in np.clip(base, 0, 255)), outline=(70, 70, 70))
    if len(layers.trees):
        for x, y in project(layers.trees):
            radius = float(rng.uniform(2.0, 3.5)) * px
            colour = _TREE[int(rng.integers(len(_TREE)))]
            draw.ellipse((x - radius + 2, y - radius + 2, x + radius + 2, y + radius + 2), fill=(50, 56, 46))
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    grain = rng.normal(0, 4, size=(height, width, 1)).astype(np.float32)
    array = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    image = Image.fromarray(array).filter(ImageFilter.GaussianBlur(0.6))
    return GeoImage(image, west, south, east, north, "EPSG:4326")
