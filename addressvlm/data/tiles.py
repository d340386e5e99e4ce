"""Satellite-like tiles centred on a location, with or without street-name labels.

Sources of imagery (`GeoImage`): a PNG/JPEG with a bounds JSON (``{"west", "south", "east", "north"}`` in
degrees, optional ``"crs": "EPSG:4326"`` or ``"EPSG:3857"``), a GeoTIFF (needs the optional ``rasterio``), an
XYZ tile folder ``{z}/{x}/{y}.png`` (`open_xyz`), or an in-memory image (the offline city renders one).

Street geometries with names (`StreetLines`) come from a GeoJSON file of (Multi)LineStrings with a ``name``
property, or from an OSM PBF through pyrosm.

`cut_tile` crops a square of ``ground_m`` metres centred on (lat, lon) and resizes it to ``size`` pixels;
`label_tile` writes each street's name along its road, rotated to the road direction (kept upright), in
matplotlib's bundled DejaVu Sans (which has ä/ö/ü), with a light halo; labels that would overlap another label or
leave the tile are skipped. The unlabelled variant is the tile before `label_tile`.

Within a tile (a few hundred metres) lon/lat are mapped to pixels linearly (local equirectangular); for XYZ
(Web Mercator) sources the crop is done in Mercator coordinates.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


__all__ = [
    "GeoImage",
    "StreetLines",
    "TileFrame",
    "cut_tile",
    "dejavu_font_path",
    "label_tile",
    "load_streets",
    "open_geo_image",
    "open_xyz",
    "render_tile_pair",
    "streets_from_geodataframe",
]

EARTH_RADIUS_M = 6_378_137.0


def dejavu_font_path(bold: bool = False) -> str:
    """Path of matplotlib's bundled DejaVu Sans (found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("matplotlib is needed for its DejaVu Sans font: pip install 'addressvlm[data]'")
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found in the matplotlib installation")
    return str(path)


@lru_cache(maxsize=16)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(dejavu_font_path(bold), size)


def _mercator_y(lat: np.ndarray | float) -> np.ndarray | float:
    return np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


@dataclass
class GeoImage:
    """A north-up image with its geographic bounds.

    Args:
        image (`PIL.Image.Image`):
            The raster (converted to RGB).
        west, south, east, north (`float`):
            Bounds in degrees.
        crs (`str`, *optional*, defaults to ``"EPSG:4326"``):
            ``EPSG:4326`` (rows linear in latitude) or ``EPSG:3857`` (rows linear in Mercator y).
    """

    image: Image.Image
    west: float
    south: float
    east: float
    north: float
    crs: str = "EPSG:4326"

    def __post_init__(self) -> None:
        if self.crs not in ("EPSG:4326", "EPSG:3857"):
            raise ValueError(f"unsupported crs {self.crs!r}: use EPSG:4326 or EPSG:3857")
        if not (self.west < self.east and self.south < self.north):
            raise ValueError(
                f"empty bounds: west={self.west}, south={self.south}, east={self.east}, north={self.north}"
            )

    def to_pixel(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional pixel coordinates of lon/lat points in this image."""
        width, height = self.image.size
        x = (np.asarray(lon) - self.west) / (self.east - self.west) * width
        if self.crs == "EPSG:3857":
            top, bottom = _mercator_y(self.north), _mercator_y(self.south)
            y = (top - _mercator_y(np.asarray(lat))) / (top - bottom) * height
        else:
            y = (self.north - np.asarray(lat)) / (self.north - self.south) * height
        return x, y


@dataclass(frozen=True)
class TileFrame:
    """Maps lon/lat to pixels of a cut tile (local equirectangular projection around its centre).

    Args:
        lat (`float`), lon (`float`):
            Centre of the tile.
        ground_m (`float`):
            Side of the tile on the ground, in metres.
        size (`int`):
            Side of the tile in pixels.
    """

    lat: float
    lon: float
    ground_m: float
    size: int

    @property
    def metres_per_pixel(self) -> float:
        return self.ground_m / self.size

    def to_pixel(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale = self.size / self.ground_m
        east = np.radians(np.asarray(lon) - self.lon) * EARTH_RADIUS_M * math.cos(math.radians(self.lat))
        north = np.radians(np.asarray(lat) - self.lat) * EARTH_RADIUS_M
        return self.size / 2 + east * scale, self.size / 2 - north * scale

    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees."""
        half = self.ground_m / 2
        dlat = math.degrees(half / EARTH_RADIUS_M)
        dlon = math.degrees(half / (EARTH_RADIUS_M * math.cos(math.radians(self.lat))))
        return self.lon - dlon, self.lat - dlat, self.lon + dlon, self.lat + dlat


def open_geo_image(path: str | os.PathLike, bounds: str | os.PathLike | dict | None = None) -> GeoImage:
    """Open a georeferenced image: a GeoTIFF (rasterio) or a PNG/JPEG with bounds.

    Args:
        path (`str` or `os.PathLike`):
            ``.tif``/``.tiff`` (read with rasterio, EPSG:4326 or EPSG:3857 only), or any PIL image.
        bounds (`str`, `os.PathLike` or `dict`, *optional*):
            For non-GeoTIFF images: a dict or JSON file with ``west``, ``south``, ``east``, ``north`` (and
            optionally ``crs``). Defaults to ``<path>.json`` beside the image.

    Returns:
        `GeoImage`.
    """
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff") and bounds is None:
        return _open_geotiff(path)
    if bounds is None:
        bounds = path.with_suffix(path.suffix + ".json")
        if not Path(bounds).is_file():
            bounds = path.with_suffix(".json")
    if not isinstance(bounds, dict):
        with open(bounds, encoding="utf-8") as handle:
            bounds = json.load(handle)
    sides = ("west", "south", "east", "north")
    missing = [key for key in sides if key not in bounds]
    if missing:
        raise ValueError(f"bounds for {path} lack {missing}")
    image = Image.open(path).convert("RGB")
    return GeoImage(image, *(float(bounds[key]) for key in sides), bounds.get("crs", "EPSG:4326"))


def _open_geotiff(path: Path) -> GeoImage:
    try:
        import rasterio
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"reading {path} needs rasterio (pip install rasterio), or give a PNG with a bounds JSON"
        ) from err
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as source:
        crs = source.crs.to_string() if source.crs else "EPSG:4326"
        bands = source.read(indexes=list(range(1, min(3, source.count) + 1)))
        west, south, east, north = transform_bounds(crs, "EPSG:4326", *source.bounds)
    array = np.moveaxis(bands, 0, -1)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.dtype != np.uint8:
        low, high = np.nanpercentile(array, (1, 99))
        array = np.clip((array - low) / max(high - low, 1e-9) * 255, 0, 255).astype(np.uint8)
    return GeoImage(Image.fromarray(array), west, south, east, north, crs)


def _tile_xy(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    n = 2**zoom
    x = (lon + 180.0) / 360.0 * n
    y = (1 - _mercator_y(lat) / math.pi) / 2 * n
    return x, y


def open_xyz(folder: str | os.PathLike, zoom: int, west: float, south: float, east: float, north: float) -> GeoImage:
    """Mosaic the XYZ tiles ``{folder}/{zoom}/{x}/{y}.png`` (or ``.jpg``) covering a bounding box.

    Args:
        folder (`str` or `os.PathLike`):
            Root of the tile folder.
        zoom (`int`):
            Zoom level.
        west, south, east, north (`float`):
            Area to cover, in degrees.

    Returns:
        `GeoImage`: in ``EPSG:3857``, covering whole tiles around the box. Missing tiles raise
        `FileNotFoundError` naming the tile.
    """
    folder = Path(folder)
    x0, y0 = (int(math.floor(v)) for v in _tile_xy(west, north, zoom))
    x1, y1 = (int(math.floor(v)) for v in _tile_xy(east, south, zoom))
    mosaic = None
    for tx in range(x0, x1 + 1):
        for ty in range(y0, y1 + 1):
            candidates = [folder / str(zoom) / str(tx) / f"{ty}{ext}" for ext in (".png", ".jpg", ".jpeg")]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise FileNotFoundError(f"XYZ tile {zoom}/{tx}/{ty} missing under {folder}")
            tile = Image.open(found).convert("RGB")
            if mosaic is None:
                side = tile.size[0]
                mosaic = Image.new("RGB", ((x1 - x0 + 1) * side, (y1 - y0 + 1) * side))
            mosaic.paste(tile, ((tx - x0) * side, (ty - y0) * side))
    n = 2**zoom
    lon_w, lon_e = x0 / n * 360 - 180, (x1 + 1) / n * 360 - 180
    lat_n = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y0 / n))))
    lat_s = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y1 + 1) / n))))
    return GeoImage(mosaic, lon_w, lat_s, lon_e, lat_n, "EPSG:3857")


def cut_tile(source: GeoImage, lat: float, lon: float, ground_m: float = 200.0, size: int = 336) -> Image.Image:
    """Crop a ``ground_m`` x ``ground_m`` metre square centred on (lat, lon) and resize it to ``size`` px.

    Args:
        source (`GeoImage`):
            The imagery.
        lat (`float`), lon (`float`):
            Centre of the tile.
        ground_m (`float`, *optional*, defaults to 200.0):
            Side of the tile on the ground.
        size (`int`, *optional*, defaults to 336):
            Side of the output in pixels.

    Returns:
        `PIL.Image.Image`: RGB; parts outside the source are black.
    """
    if ground_m <= 0 or size <= 0:
        raise ValueError(f"ground_m and size must be positive, got {ground_m}, {size}")
    west, south, east, north = TileFrame(lat, lon, ground_m, size).bounds()
    (x0, x1), (y0, y1) = source.to_pixel(np.array([west, east]), np.array([north, south]))
    x0, x1, y0, y1 = float(x0), float(x1), float(y0), float(y1)
    width, height = source.image.size
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        return source.image.resize((size, size), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1), reducing_gap=None)
    left, top = math.floor(x0), math.floor(y0)
    crop = source.image.crop((left, top, math.ceil(x1), math.ceil(y1)))  # PIL pads outside areas with black
    return crop.resize((size, size), Image.Resampling.BILINEAR, box=(x0 - left, y0 - top, x1 - left, y1 - top))


@dataclass
class StreetLines:
    """Named street polylines in lon/lat.

    Args:
        names (`list[str]`):
            Street name of each polyline.
        lines (`list[np.ndarray]`):
            ``(n_points, 2)`` arrays of (lon, lat).
    """

    names: list[str]
    lines: list[np.ndarray]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.lines):
            raise ValueError(f"{len(self.names)} names for {len(self.lines)} lines")
        self._boxes = np.array([[*line.min(axis=0), *line.max(axis=0)] for line in self.lines]).reshape(-1, 4)

    def by_name(self) -> dict[str, list[np.ndarray]]:
        """Street name -> its polylines."""
        streets: dict[str, list[np.ndarray]] = {}
        for name, line in zip(self.names, self.lines):
            streets.setdefault(name, []).append(line)
        return streets

    def within(self, west: float, south: float, east: float, north: float) -> list[int]:
        """Indices of the polylines whose bounding box meets the given box."""
        b = self._boxes
        hit = (b[:, 0] <= east) & (b[:, 2] >= west) & (b[:, 1] <= north) & (b[:, 3] >= south)
        return np.flatnonzero(hit).tolist()


def load_streets(
    path: str | os.PathLike, name_field: str = "name", skip_other_geometries: bool = False
) -> StreetLines:
    """Read named street polylines from a GeoJSON FeatureCollection or an OSM PBF (through pyrosm).

    Args:
        path (`str` or `os.PathLike`):
            ``.geojson``/``.json`` FeatureCollection with (Multi)LineString features (lon/lat) and a name property,
            or ``.pbf`` (the driving + walking network with a ``name`` tag).
        name_field (`str`, *optional*, defaults to ``"name"``):
            The GeoJSON property holding the street name (``"street"`` is tried when it is missing).
        skip_other_geometries (`bool`, *optional*, defaults to `False`):
            Leave out named features that are not (Multi)LineStrings (points, areas) instead of raising.

    Returns:
        `StreetLines`: features without a name are left out.
    """
    path = Path(path)
    if path.suffix.lower() == ".pbf":
        from pyrosm import OSM

        network = OSM(str(path)).get_network(network_type="all")
        network = network[network["name"].notna() & (network["name"].astype(str).str.strip() != "")]
        return streets_from_geodataframe(network)
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"Cannot read street geometries from {path}: {err}") from err
    if collection.get("type") != "FeatureCollection":
        raise ValueError(f"{path}: expected a GeoJSON FeatureCollection, got type {collection.get('type')!r}")
    names, lines = [], []
    for number, feature in enumerate(collection.get("features", []), start=1):
        properties = feature.get("properties") or {}
        name = properties.get(name_field, properties.get("street"))
        geometry = feature.get("geometry") or {}
        kind = geometry.get("type")
        if not name or (skip_other_geometries and kind not in ("LineString", "MultiLineString")):
            continue
        if kind == "LineString":
            parts = [geometry["coordinates"]]
        elif kind == "MultiLineString":
            parts = geometry["coordinates"]
        else:
            raise ValueError(f"{path}: feature {number} ({name!r}) is a {kind}, expected (Multi)LineString")
        for part in parts:
            if len(part) >= 2:
                names.append(str(name))
                lines.append(np.asarray(part, dtype="float64")[:, :2])
    return StreetLines(names, lines)


def streets_from_geodataframe(frame, name_column: str = "name") -> StreetLines:
    """`StreetLines` from a GeoDataFrame with names and (Multi)LineString ``geometry`` (lon/lat).

    Rows without a name or a geometry are left out.
    """
    names, lines = [], []
    for name, geometry in zip(frame[name_column], frame.geometry):
        if not name or geometry is None:
            continue
        for part in getattr(geometry, "geoms", [geometry]):
            coords = np.asarray(part.coords, dtype="float64")[:, :2]
            if len(coords) >= 2:
                names.append(str(name))
                lines.append(coords)
    return StreetLines(names, lines)


def _chain(lines: list[np.ndarray]) -> list[np.ndarray]:
    """Join polylines that share end points (OSM ways split at every crossing) into longer chains."""

    def key(point: np.ndarray) -> tuple[float, float]:
        return (round(float(point[0]), 3), round(float(point[1]), 3))

    ends: dict[tuple[float, float], list[int]] = {}
    for index, line in enumerate(lines):
        ends.setdefault(key(line[0]), []).append(index)
        ends.setdefault(key(line[-1]), []).append(index)
    used = [False] * len(lines)

    def take(point: np.ndarray) -> np.ndarray | None:
        for index in ends.get(key(point), []):
            if not used[index]:
                used[index] = True
                line = lines[index]
                return line if key(line[0]) == key(point) else line[::-1]
        return None

    chains = []
    for start in range(len(lines)):
        if used[start]:
            continue
        used[start] = True
        chain = lines[start]
        while (following := take(chain[-1])) is not None:
            chain = np.concatenate([chain, following[1:]])
        while (preceding := take(chain[0])) is not None:  # starts at chain[0]: reverse it to end there
            chain = np.concatenate([preceding[::-1][:-1], chain])
        chains.append(chain)
    return chains


def _label_candidates(points: np.ndarray, text_px: float, size: int, margin: float):
    """Yield (score, x, y, angle_degrees) for label positions along a pixel polyline."""
    segments = np.diff(points, axis=0)
    lengths = np.hypot(segments[:, 0], segments[:, 1])
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    total = cumulative[-1]
    if total < text_px * 1.05:
        return
    step = max(text_px / 4, 4.0)
    for centre in np.arange(text_px / 2, total - text_px / 2 + 1e-9, step):
        start = _point_at(points, cumulative, centre - text_px / 2)
        end = _point_at(points, cumulative, centre + text_px / 2)
        chord = np.hypot(*(end - start))
        if chord < 0.9 * text_px:  # the road bends too much under the label
            continue
        mid = (start + end) / 2
        if (mid < margin).any() or (mid > size - margin).any():
            continue
        angle = math.degrees(math.atan2(-(end[1] - start[1]), end[0] - start[0]))
        if angle > 90:
            angle -= 180
        elif angle <= -90:
            angle += 180
        straightness = chord / text_px
        centrality = 1 - np.hypot(*(mid - size / 2)) / size
        yield straightness + centrality, float(mid[0]), float(mid[1]), angle


def _point_at(points: np.ndarray, cumulative: np.ndarray, distance: float) -> np.ndarray:
    index = int(np.clip(np.searchsorted(cumulative, distance, side="right") - 1, 0, len(points) - 2))
    span = cumulative[index + 1] - cumulative[index]
    t = 0.0 if span == 0 else (distance - cumulative[index]) / span
    return points[index] + t * (points[index + 1] - points[index])


def _text_sprite(text: str, font: ImageFont.FreeTypeFont, fill, halo) -> Image.Image:
    left, top, right, bottom = font.getbbox(text, stroke_width=2)
    sprite = Image.new("RGBA", (right - left + 2, bottom - top + 2), (0, 0, 0, 0))
    ImageDraw.Draw(sprite).text((1 - left, 1 - top), text, font=font, fill=fill, stroke_width=2, stroke_fill=halo)
    return sprite


def label_tile(
    tile: Image.Image,
    frame: TileFrame,
    streets: StreetLines,
    font_size: int | None = None,
    fill: tuple[int, int, int, int] = (20, 20, 20, 255),
    halo: tuple[int, int, int, int] = (255, 255, 255, 220),
    max_labels: int = 12,
    prefer: tuple[str, ...] = (),
    avoid: tuple[float, float, float, float] | None = None,
) -> tuple[Image.Image, list[str]]:
    """Write street names along their roads on a tile.

    Args:
        tile (`PIL.Image.Image`):
            The unlabelled tile (not modified).
        frame (`TileFrame`):
            Its geographic frame.
        streets (`StreetLines`):
            Named polylines (only those near the tile are used).
        font_size (`int`, *optional*):
            Text height in pixels; defaults to ``round(0.036 * size)`` (12 px at 336).
        fill (`tuple`, *optional*):
            RGBA text colour.
        halo (`tuple`, *optional*):
            RGBA colour of the 2-px outline that keeps the text legible on any background.
        max_labels (`int`, *optional*, defaults to 12):
            At most this many labels (the ``prefer`` streets first, then the longest visible ones).
        prefer (`tuple[str, ...]`, *optional*):
            Streets labelled before all others (e.g. the street of the tile's location).
        avoid (`tuple[float, float, float, float]`, *optional*):
            ``(left, top, right, bottom)`` as fractions of the tile where no label may go (e.g. the top-right
            quarter ``(0.5, 0, 1, 0.5)``, covered by the street view after grafting with ``delta <= 0.5``).

    Returns:
        `tuple`: the labelled RGB tile and the names written, in drawing order.
    """
    import shapely

    size = frame.size
    font = _font(font_size or max(8, round(0.036 * size)))
    west, south, east, north = frame.bounds()
    by_name: dict[str, list[np.ndarray]] = {}
    for index in streets.within(west, south, east, north):
        x, y = frame.to_pixel(streets.lines[index][:, 0], streets.lines[index][:, 1])
        by_name.setdefault(streets.names[index], []).append(np.stack([x, y], axis=1))
    by_name = {name: _chain(lines) for name, lines in by_name.items()}
    visible_length = {
        name: sum(shapely.clip_by_rect(shapely.LineString(line), 0, 0, size, size).length for line in lines)
        for name, lines in by_name.items()
    }
    order = sorted(by_name, key=lambda name: (name not in prefer, -visible_length[name], name))
    canvas = tile.convert("RGBA")
    occupied = np.zeros((size, size), dtype=bool)
    if avoid is not None:
        left, top, right, bottom = (int(round(v * size)) for v in avoid)
        occupied[top:bottom, left:right] = True
    written: list[str] = []
    for name in order:
        if len(written) >= max_labels:
            break
        if visible_length[name] <= 0:
            continue
        text_px = font.getlength(name)
        margin = font.size
        candidates = sorted(
            (c for line in by_name[name] for c in _label_candidates(line, text_px, size, margin)), reverse=True
        )
        sprite = None
        for _, x, y, angle in candidates:
            if sprite is None:
                sprite = _text_sprite(name, font, fill, halo)
            rotated = sprite.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
            left, top = int(round(x - rotated.width / 2)), int(round(y - rotated.height / 2))
            if left < 0 or top < 0 or left + rotated.width > size or top + rotated.height > size:
                continue
            alpha = np.asarray(rotated.getchannel("A")) > 16
            region = occupied[top : top + rotated.height, left : left + rotated.width]
            if (region & alpha).any():
                continue
            region |= alpha
            canvas.alpha_composite(rotated, (left, top))
            written.append(name)
            break
    return canvas.convert("RGB"), written


def render_tile_pair(
    source: GeoImage,
    streets: StreetLines,
    lat: float,
    lon: float,
    ground_m: float = 200.0,
    size: int = 336,
    font_size: int | None = None,
    prefer: tuple[str, ...] = (),
    avoid: tuple[float, float, float, float] | None = None,
) -> tuple[Image.Image, Image.Image, list[str]]:
    """Cut the tile centred on (lat, lon) and label it (``prefer`` and ``avoid``: see `label_tile`).

    Returns:
        `tuple`: ``(labelled, unlabelled, names written)``.
    """
    frame = TileFrame(lat, lon, ground_m, size)
    plain = cut_tile(source, lat, lon, ground_m, size)
    labelled, names = label_tile(plain, frame, streets, font_size=font_size, prefer=prefer, avoid=avoid)
    return labelled, plain, names
