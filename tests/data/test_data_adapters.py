"""Adapters: SF-XL file names and AddressCLIP annotation tables."""

from __future__ import annotations

import pandas as pd
import pytest

from addressvlm.data.adapters import (
    load_column_mapping,
    parse_sfxl_names,
    read_addressclip_table,
    sfxl_metadata,
    split_addressclip_address,
)
from addressvlm.data.validation import MetadataError


def _sfxl(east, north, lat, lon, pano, heading, folder="processed/"):
    return f"{folder}@{east}@{north}@10@S@{lat}@{lon}@{pano}@0@{heading}@0@0@2.5@201805@@.jpg"


def test_parse_sfxl_names_fields():
    names = [
        _sfxl(549926.37, 4184364.52, 37.80013, -122.43282, "panoA", 90.0),
        _sfxl(549931.10, 4184366.90, 37.80015, -122.43277, "panoA", 180.0),
    ]
    table = parse_sfxl_names(names)
    assert table["image"].tolist() == names
    assert table["lat"].tolist() == [37.80013, 37.80015]
    assert table["lon"].tolist() == [-122.43282, -122.43277]
    assert table["heading"].tolist() == [90.0, 180.0]
    assert table["pano_id"].tolist() == ["panoA", "panoA"]
    assert table["utm_zone_letter"].tolist() == ["S", "S"]


def test_bad_sfxl_names_are_reported_with_position():
    names = [_sfxl(1, 2, 3, 4, "p", 0), "plain_name.jpg", _sfxl(1, 2, "lat?", 4, "p", 0)]
    with pytest.raises(MetadataError) as info:
        parse_sfxl_names(names)
    (issue,) = info.value.report.issues
    assert (issue.kind, issue.row) == ("bad_file_name", 2)
    with pytest.raises(MetadataError) as info:
        parse_sfxl_names([names[0], names[2]])
    (issue,) = info.value.report.issues
    assert (issue.kind, issue.row, issue.column) == ("bad_number", 2, "lat")


def test_sfxl_metadata_locations_and_address_join():
    names = [
        _sfxl(549926.37, 4184364.52, 37.80013, -122.43282, "panoA", 90.0),
        _sfxl(549927.90, 4184362.00, 37.80013, -122.43282, "panoB", 0.0),
        _sfxl(550100.00, 4184500.00, 37.80100, -122.43100, "panoC", 0.0),
    ]
    addresses = pd.DataFrame(
        {"pano_id": ["panoA", "panoB"], "street": ["Lombard St", "Lombard St"], "district": ["Marina", "Marina"]}
    )
    by_pano = sfxl_metadata(names, addresses)
    assert by_pano["location_id"].tolist() == ["panoA", "panoB", "panoC"]
    assert by_pano["street"].tolist() == ["Lombard St", "Lombard St", ""]  # kept, validation flags it
    by_utm = sfxl_metadata(names, addresses, location_from="utm", utm_grid_m=10)
    assert by_utm["location_id"].iloc[0] == by_utm["location_id"].iloc[1] == "10S_54993_418436"
    assert by_utm["location_id"].iloc[2] != by_utm["location_id"].iloc[0]


def test_split_addressclip_address():
    split = split_addressclip_address(
        pd.Series(["Forbes Avenue & Craig Street, Oakland", "Liberty Avenue, Downtown", "Penn Ave"])
    )
    assert split["street"].tolist() == ["Forbes Avenue", "Liberty Avenue", "Penn Ave"]
    assert split["district"].tolist() == ["Oakland", "Downtown", ""]


def test_addressclip_default_guess(tmp_path):
    table = pd.DataFrame(
        {
            "img_path": ["000/000001_pitch1_yaw1.jpg", "000/000001_pitch1_yaw2.jpg", "000/000002_pitch1_yaw1.jpg"],
            "Latitude": [40.44, 40.44, 40.45],
            "longitude": [-79.99, -79.99, -79.98],
            "address": ["Forbes Avenue & Craig Street, Oakland"] * 2 + ["Liberty Avenue, Downtown"],
        }
    )
    table.to_csv(tmp_path / "pitts.csv", index=False)
    frame = read_addressclip_table(tmp_path / "pitts.csv", {"columns": {}, "location_from": "pitts_name"})
    assert frame["location_id"].tolist() == ["000001", "000001", "000002"]
    assert frame["street"].tolist() == ["Forbes Avenue", "Forbes Avenue", "Liberty Avenue"]
    assert frame["district"].tolist() == ["Oakland", "Oakland", "Downtown"]
    assert frame["lat"].tolist() == [40.44, 40.44, 40.45]


def test_addressclip_yaml_mapping_and_unknown_column(tmp_path):
    table = pd.DataFrame(
        {
            "file": ["a.jpg", "b.jpg"],
            "y": [40.0, 40.1],
            "x": [-79.0, -79.1],
            "rd": ["A St", "B St"],
            "hood": ["N", "S"],
        }
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "map.yaml").write_text(
        "columns:\n  file: image\n  y: lat\n  x: lon\n  rd: street\n  hood: district\nlocation_from: latlon\n"
    )
    frame = read_addressclip_table(tmp_path / "t.csv", tmp_path / "map.yaml")
    assert frame["location_id"].tolist() == ["40.00000_-79.00000", "40.10000_-79.10000"]
    with pytest.raises(MetadataError) as info:
        read_addressclip_table(tmp_path / "t.csv", {"columns": {"nope": "image"}})
    assert info.value.kinds == {"unmapped_column"}


def test_load_column_mapping_rejects_unknown_keys():
    assert load_column_mapping({"a": "image"})["columns"] == {"a": "image"}
    with pytest.raises(ValueError, match="unknown keys"):
        load_column_mapping({"columns": {}, "colums": {}})
