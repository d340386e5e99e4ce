"""The offline city: real OSM streets, metadata in the shared schema, deterministic rendering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from addressvlm.data.metadata import read_metadata
from addressvlm.synthetic.street_view import (
    DISTRICT_STYLES,
    assign_street_codes,
    district_style,
    heading_is_along,
    render_street_view,
)


def test_metadata_is_valid_and_complete(small_city):
    frame = read_metadata(small_city.metadata, check_images=True)  # raises on any missing / unreadable image
    assert list(frame.columns) == [
        "image",
        "location_id",
        "lat",
        "lon",
        "street",
        "district",
        "heading",
        "satellite",
        "satellite_unlabeled",
        "city",
    ]
    assert len(frame) == small_city.images == 72
    assert frame["location_id"].nunique() == small_city.locations == 36
    assert frame["street"].nunique() == small_city.streets == 8
    assert frame["district"].nunique() == small_city.districts
    assert frame.groupby("location_id").size().eq(2).all()
    assert frame.groupby("street")["location_id"].nunique().min() >= 4  # min_locations_per_street
    # real Helsinki streets inside the extract's bounding box
    assert {"Mannerheimintie", "Aleksanterinkatu"} <= set(frame["street"])
    assert frame["lat"].between(60.163, 60.180).all() and frame["lon"].between(24.934, 24.954).all()
    assert (
        frame["district"]
        .isin(["Kaartinkaupunki", "Siltasaari", "Hakaniemi", "Kluuvi", "Keskusta", "Kaisaniemi"])
        .all()
    )
    root = Path(small_city.output_dir)
    with Image.open(root / frame["image"].iloc[0]) as image:
        assert image.size == (48, 48)
    with Image.open(root / frame["satellite"].iloc[0]) as tile:
        assert tile.size == (160, 160)


def test_every_output_carries_the_osm_credit(small_city):
    root = Path(small_city.output_dir)
    assert "© OpenStreetMap contributors" in (root / "README.md").read_text()
    info = json.loads((root / "city_info.json").read_text())
    assert "© OpenStreetMap contributors" in info["attribution"]
    frame = pd.read_csv(root / "metadata.csv")
    with Image.open(root / frame["image"].iloc[0]) as image:
        assert "OpenStreetMap contributors" in image.info["comment"].decode()
    with Image.open(root / frame["satellite"].iloc[0]) as tile:
        assert "OpenStreetMap contributors" in tile.info["comment"].decode()
    assert info["summary"]["locations_per_street"] == small_city.locations_per_street
    assert len(info["street_codes"]) == small_city.streets
    assert info["tiles_showing_own_street_name"] >= 0.7 * small_city.locations


def test_labelled_and_unlabelled_tiles_differ_only_by_text(small_city):
    root = Path(small_city.output_dir)
    frame = pd.read_csv(root / "metadata.csv").drop_duplicates("location_id")
    differing = 0
    for row in frame.itertuples():
        labelled = np.asarray(Image.open(root / row.satellite), dtype=int)
        plain = np.asarray(Image.open(root / row.satellite_unlabeled), dtype=int)
        changed = np.abs(labelled - plain).sum(axis=2) > 60
        differing += changed.any()
        assert changed.mean() < 0.25  # labels cover a small part of the tile
    assert differing >= 0.75 * len(frame)  # almost every tile shows a street name


def test_same_seed_same_city(small_city, small_city_arguments, tmp_path):
    from addressvlm.synthetic.city import build_synth_city

    again = build_synth_city(tmp_path / "again", progress=False, **small_city_arguments)
    first, second = Path(small_city.output_dir), Path(again.output_dir)
    assert (first / "metadata.csv").read_bytes() == (second / "metadata.csv").read_bytes()
    frame = pd.read_csv(first / "metadata.csv")
    for name in list(frame["image"].iloc[::9]) + list(frame["satellite"].iloc[::9]):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_street_codes_are_unique_and_stable():
    names = [f"Street {i}" for i in range(300)]
    codes = assign_street_codes(names, seed=0)
    assert len({(c.awning, c.band, c.door) for c in codes.values()}) == 300
    assert assign_street_codes(names[:5], seed=0) == assign_street_codes(list(reversed(names[:5])), seed=0)
    with pytest.raises(ValueError, match="distinct colour codes"):
        assign_street_codes([f"S{i}" for i in range(721)])


def test_district_styles_stay_distinct_beyond_eight():
    styles = [district_style(i) for i in range(12)]
    assert styles[:8] == list(DISTRICT_STYLES)
    assert styles[8].facades != styles[0].facades and styles[8].storeys == styles[0].storeys


def test_street_colour_code_survives_64px():
    """The street's band colour dominates a band of the downscaled façade view (learnable at 64 px)."""
    codes = assign_street_codes(["A", "B"], seed=0)
    hits = 0
    for trial in range(8):
        image = render_street_view(
            "A",
            DISTRICT_STYLES[1],
            codes["A"],
            along=False,
            show_sign=False,
            rng=np.random.default_rng(trial),
            size=(128, 128),
        )
        small = np.asarray(image.resize((64, 64), Image.Resampling.BICUBIC), dtype=float)
        distance = np.abs(small - np.asarray(codes["A"].band, dtype=float)).sum(axis=2)
        other = np.abs(small - np.asarray(codes["B"].band, dtype=float)).sum(axis=2)
        hits += (distance < 120).sum() > 2 * (other < 120).sum() + 10
    assert hits >= 6


def test_views_along_and_across_the_road():
    assert heading_is_along(10, 0) and heading_is_along(185, 0) and heading_is_along(350, 10)
    assert not heading_is_along(90, 0) and not heading_is_along(260, 0)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"image_size": 1}, "image_size must be at least 16 pixels, got 1"),
        ({"tile_size": 8}, "tile_size must be at least 16 pixels, got 8"),
        ({"sign_probability": 2.0}, "sign_probability must be between 0 and 1, got 2.0"),
    ],
)
def test_synth_city_rejects_degenerate_options(tmp_path, option, message):
    from addressvlm.synthetic.city import build_synth_city

    with pytest.raises(ValueError, match=message):
        build_synth_city(tmp_path / "city", locations=6, views=1, progress=False, **option)
    assert not (tmp_path / "city").exists()


def test_synth_city_without_the_data_extra_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from addressvlm.synthetic.city import build_synth_city

    monkeypatch.setitem(sys.modules, "geopandas", None)  # as if the [data] extra were not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'addressvlm\[data\]'"):
        build_synth_city(tmp_path / "city", locations=6, views=1, progress=False)
