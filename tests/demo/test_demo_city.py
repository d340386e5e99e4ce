"""`DemoCity`: examples from a VQA test split or a city folder, name matching, and the map of the prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from addressvlm.demo import DemoCity


def _red_pixels(image) -> int:
    pixels = np.asarray(image, dtype=int)
    return int(((pixels[..., 0] > 190) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)).sum())


def test_a_vqa_dataset_offers_its_test_split_and_the_osm_map(demo_vqa):
    from addressvlm.data import load_address_dataset

    city = DemoCity.load(demo_vqa, n_examples=4)
    test_images = set(load_address_dataset(demo_vqa)["test"]["image"])
    assert len(city.examples) == min(4, len(test_images))
    assert {row["image"] for row in city.examples} <= test_images
    assert city.map_source == "OpenStreetMap" and city.geometries
    assert city.name == "Helsinki"
    assert set(city.streets) == set(pd.read_csv(demo_vqa.parent / "helsinki" / "metadata.csv")["street"])


def test_a_city_folder_spreads_its_examples_over_locations(demo_city):
    city = DemoCity.load(demo_city, n_examples=5)
    table = pd.read_csv(demo_city / "metadata.csv")
    locations = {str(demo_city / image): loc for image, loc in zip(table["image"], table["location_id"])}
    assert len({locations[row["image"]] for row in city.examples}) == 5
    first = city.examples[0]
    assert city.example(f"/some/upload/cache/{first['image'].rsplit('/', 1)[-1]}") is first
    assert city.example("/elsewhere/photo.jpg") is None
    row = table[table["image"] == first["image"].split("/helsinki/")[-1]].iloc[0]
    assert first["location"] == (row["lat"], row["lon"]) and first["street"] == row["street"]


def test_answers_are_matched_to_the_city_names_like_the_metric_matches(demo_city):
    city = DemoCity.load(demo_city)
    street, district = city.streets[0], city.districts[0]
    assert city.match_street(f"  {street.upper()}.") == street
    assert city.match_street("Nowhere Road") is None
    assert city.match_district(f"{district} district") == district
    # the combined answer fills in what the single answers do not name
    assert city.locate({"street": "gibberish", "district": "", "street_district": f"{street}, {district}"}) == (
        street,
        district,
    )
    assert city.locate({"street": street}) == (street, None)


def test_the_map_highlights_the_predicted_street(demo_city):
    city = DemoCity.load(demo_city)
    plain = city.draw_map(None)
    marked = city.draw_map(city.streets[0], city.districts[0])
    assert plain.mode == "RGB" and plain.size[0] > 200
    assert _red_pixels(plain) == 0
    assert _red_pixels(marked) > 100
    starred = np.asarray(city.draw_map(None, None, city.examples[0]["location"]), dtype=int)
    assert ((starred[..., 0] > 230) & (starred[..., 1] > 190) & (starred[..., 2] < 60)).sum() > 20  # the gold star


def test_a_real_city_table_is_drawn_from_its_coordinates(tmp_path, demo_city):
    table = pd.read_csv(demo_city / "metadata.csv")
    table["image"] = [str(demo_city / image) for image in table["image"]]
    codes = table["location_id"].astype("category").cat.codes
    table["split"] = np.where(codes % 3 == 0, "test", "train")
    path = tmp_path / "pitts.csv"
    table.drop(columns=["city"]).to_csv(path, index=False)
    city = DemoCity.load(path, n_examples=50)
    assert city.geometries is None and city.map_source == "metadata coordinates"
    assert {row["image"] for row in city.examples} <= set(table.loc[table["split"] == "test", "image"])
    assert _red_pixels(city.draw_map(city.streets[1])) > 20


def test_bad_city_paths_say_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DemoCity.load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no metadata.csv / metadata.parquet / metadata.tsv in it"):
        DemoCity.load(tmp_path)
