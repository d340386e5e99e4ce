"""Satellite tiles: georeferenced cutting, XYZ mosaics, street geometries and rotated street-name labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFont

from addressvlm.data.tiles import (
    GeoImage,
    StreetLines,
    TileFrame,
    cut_tile,
    dejavu_font_path,
    label_tile,
    load_streets,
    open_geo_image,
    open_xyz,
    render_tile_pair,
)


LAT, LON = 60.17, 24.94
BOUNDS = {"west": 24.93, "south": 60.165, "east": 24.95, "north": 60.175}


@pytest.fixture
def geo_png(tmp_path):
    """A grey raster with a red square at (LAT, LON), saved as PNG + bounds JSON."""
    image = Image.new("RGB", (1000, 1000), (128, 128, 128))
    geo = GeoImage(image, BOUNDS["west"], BOUNDS["south"], BOUNDS["east"], BOUNDS["north"])
    x, y = geo.to_pixel(np.array([LON]), np.array([LAT]))
    image.paste((255, 0, 0), (int(x[0]) - 4, int(y[0]) - 4, int(x[0]) + 5, int(y[0]) + 5))
    image.save(tmp_path / "map.png")
    (tmp_path / "map.json").write_text(json.dumps(BOUNDS))
    return tmp_path / "map.png"


def test_cut_tile_is_centred_on_the_location(geo_png):
    source = open_geo_image(geo_png)
    tile = np.asarray(cut_tile(source, LAT, LON, ground_m=100, size=64))
    red = np.argwhere((tile[..., 0] > 200) & (tile[..., 1] < 80))
    assert len(red) > 0
    assert np.allclose(red.mean(axis=0), [31.5, 31.5], atol=1.5)
    off = np.asarray(cut_tile(source, LAT + 0.002, LON, ground_m=100, size=64))  # 220 m north: marker out of view
    assert not ((off[..., 0] > 200) & (off[..., 1] < 80)).any()


def test_cut_tile_pads_outside_the_source_with_black(geo_png):
    tile = np.asarray(cut_tile(open_geo_image(geo_png), BOUNDS["north"], LON, ground_m=200, size=50))
    assert tile[:20].max() == 0 and tile[30:].min() > 100


def test_bounds_are_required(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    (tmp_path / "x.json").write_text(json.dumps({"west": 1, "east": 2}))
    with pytest.raises(ValueError, match="lack"):
        open_geo_image(tmp_path / "x.png")
    with pytest.raises(ValueError, match="empty bounds"):
        GeoImage(Image.new("RGB", (8, 8)), 2, 0, 1, 1)


def test_xyz_mosaic_covers_the_box(tmp_path):
    zoom = 16
    n = 2**zoom
    x0 = int((LON + 180) / 360 * n)
    y0 = int((1 - np.log(np.tan(np.pi / 4 + np.radians(60.171) / 2)) / np.pi) / 2 * n)
    for dx in range(2):
        for dy in range(2):
            folder = tmp_path / str(zoom) / str(x0 + dx)
            folder.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (40 * (dx + 1), 40 * (dy + 1), 0)).save(folder / f"{y0 + dy}.png")
    west = (x0 + 0.5) / n * 360 - 180
    east = (x0 + 1.5) / n * 360 - 180
    south = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y0 + 1.5) / n))))
    mosaic = open_xyz(tmp_path, zoom, west, south, east, 60.171)
    assert mosaic.crs == "EPSG:3857"
    assert mosaic.image.size == (64, 64)
    pixels = np.asarray(mosaic.image)
    assert tuple(pixels[0, 0]) == (40, 40, 0) and tuple(pixels[40, 40]) == (80, 80, 0)
    x, y = mosaic.to_pixel(np.array([west]), np.array([60.171]))
    assert 0 <= x[0] <= 32 and 0 <= y[0] <= 32
    with pytest.raises(FileNotFoundError, match="missing"):
        open_xyz(tmp_path, zoom, west, 60.0, east, 60.171)


def test_geojson_streets_and_bad_geometry(tmp_path):
    features = [
        {
            "type": "Feature",
            "properties": {"name": "Kävelykatu"},
            "geometry": {"type": "LineString", "coordinates": [[24.935, 60.17], [24.945, 60.17]]},
        },
        {
            "type": "Feature",
            "properties": {"name": None},
            "geometry": {"type": "LineString", "coordinates": [[24.9, 60.1], [24.91, 60.1]]},
        },
        {
            "type": "Feature",
            "properties": {"name": "Two Part St"},
            "geometry": {"type": "MultiLineString", "coordinates": [[[1, 1], [2, 2]], [[3, 3], [4, 4]]]},
        },
    ]
    (tmp_path / "s.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    streets = load_streets(tmp_path / "s.geojson")
    assert streets.names == ["Kävelykatu", "Two Part St", "Two Part St"]
    assert streets.within(24.94, 60.16, 24.95, 60.18) == [0]
    features[0]["geometry"] = {"type": "Point", "coordinates": [1, 1]}
    (tmp_path / "bad.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.raises(ValueError, match="feature 1"):
        load_streets(tmp_path / "bad.geojson")


def _diagonal_street() -> StreetLines:
    d = 0.0006
    line = np.array([[LON - 2 * d, LAT - d], [LON + 2 * d, LAT + d]])
    return StreetLines(["Töölönkatu"], [line])


def test_label_is_written_along_the_road():
    frame = TileFrame(LAT, LON, 120.0, 200)
    plain = Image.new("RGB", (200, 200), (90, 140, 90))
    labelled, written = label_tile(plain, frame, _diagonal_street(), font_size=14)
    assert written == ["Töölönkatu"]
    changed = np.argwhere(np.abs(np.asarray(labelled, int) - np.asarray(plain, int)).sum(axis=2) > 30)
    assert len(changed) > 100
    assert (np.asarray(plain) == (90, 140, 90)).all()  # the unlabelled tile is untouched
    # the text follows the road: the changed pixels lie along the road's direction in the tile
    (line,) = _diagonal_street().lines
    x, y = frame.to_pixel(line[:, 0], line[:, 1])
    text_slope = np.polyfit(changed[:, 1], changed[:, 0], 1)[0]
    assert text_slope == pytest.approx((y[1] - y[0]) / (x[1] - x[0]), abs=0.15)


def test_labels_never_overlap_and_skip_hidden_streets():
    frame = TileFrame(LAT, LON, 120.0, 200)
    line = np.array([[LON - 0.001, LAT], [LON + 0.001, LAT]])
    far = np.array([[LON + 0.1, LAT], [LON + 0.2, LAT]])
    streets = StreetLines(["Same Place A", "Same Place B", "Far Away"], [line, line.copy(), far])
    _, written = label_tile(Image.new("RGB", (200, 200)), frame, streets, font_size=14)
    assert len(written) == 1 and written[0].startswith("Same Place")


def test_dejavu_has_nordic_letters():
    font = ImageFont.truetype(dejavu_font_path(), 20)
    a_umlaut, a_plain = (np.asarray(font.getmask(ch)) for ch in ("ä", "a"))
    assert a_umlaut.shape != a_plain.shape or not np.array_equal(a_umlaut, a_plain)
    assert font.getmask("ä").getbbox() != font.getmask("□").getbbox()


def test_render_tile_pair(geo_png):
    labelled, plain, names = render_tile_pair(open_geo_image(geo_png), _diagonal_street(), LAT, LON, 120.0, 160)
    assert names == ["Töölönkatu"] and labelled.size == plain.size == (160, 160)
    assert not np.array_equal(np.asarray(labelled), np.asarray(plain))


def test_labels_stay_out_of_the_avoided_corner():
    frame = TileFrame(LAT, LON, 120.0, 200)
    line = np.array([[LON - 0.001, LAT + 0.0003], [LON + 0.001, LAT + 0.0003]])  # a road in the top half
    plain = Image.new("RGB", (200, 200))
    labelled, written = label_tile(
        plain, frame, StreetLines(["Kulmakatu"], [line]), font_size=12, avoid=(0.5, 0.0, 1.0, 0.5)
    )
    changed = np.argwhere(np.asarray(labelled).sum(axis=2) > 0)
    assert written == ["Kulmakatu"]
    assert not ((changed[:, 0] < 100) & (changed[:, 1] >= 100)).any()
    _, nowhere = label_tile(plain, frame, StreetLines(["Kulmakatu"], [line]), font_size=12, avoid=(0, 0, 1, 1))
    assert nowhere == []
