"""A metadata ``split`` column (a dataset's official train / validation / test) is used as given, not re-drawn."""

from __future__ import annotations

import json

import pytest

from addressvlm.cli import main as addressvlm_main
from addressvlm.data.storage import load_address_dataset
from addressvlm.data.validation import MetadataError
from addressvlm.data.vqa import build_vqa


def _official(metadata_factory, seed: int = 2):
    """40 locations whose official split is *not* what a 7:2:1 draw would give: 10 / 5 / 25 locations."""
    frame = metadata_factory(n_locations=40, views=2, n_streets=8, n_districts=4, seed=seed)
    locations = sorted(frame["location_id"].unique())
    official = {loc: "train" if i < 10 else "val" if i < 15 else "TEST" for i, loc in enumerate(locations)}
    frame["split"] = frame["location_id"].map(official)
    return frame, official


def test_split_column_is_used_as_given(metadata_factory, tmp_path):
    frame, official = _official(metadata_factory)
    dataset = build_vqa(frame, tmp_path / "vqa", seed=0, image_root=tmp_path)
    expected = {"train": "train", "val": "validation", "TEST": "test"}
    for split, part in dataset.items():
        assert {expected[official[loc]] for loc in part["location_id"]} == {split}
    assert [len(set(dataset[s]["location_id"])) for s in ("train", "validation", "test")] == [10, 5, 25]
    assert dataset["test"].num_rows == 50  # every test image of the official split, none re-drawn
    info = json.loads((tmp_path / "vqa" / "build_info.json").read_text())
    assert info["arguments"]["split_source"] == "column" and info["arguments"]["split_ratios"] is None


def test_split_column_can_be_ignored_on_purpose(metadata_factory, tmp_path):
    frame, _ = _official(metadata_factory)
    dataset = build_vqa(frame, seed=0, ignore_split_column=True)
    assert [len(set(dataset[s]["location_id"])) for s in ("train", "validation", "test")] == [28, 8, 4]


def test_ratios_with_a_split_column_are_refused(metadata_factory):
    frame, _ = _official(metadata_factory)
    with pytest.raises(ValueError, match="has a 'split' column"):
        build_vqa(frame, split_ratios=(0.8, 0.1, 0.1))


def test_bad_split_values_and_split_locations_are_named(metadata_factory):
    frame, _ = _official(metadata_factory)
    frame.loc[3, "split"] = "holdout"
    location = frame.loc[0, "location_id"]
    second_view = frame.index[(frame["location_id"] == location)][1]
    frame.loc[second_view, "split"] = "test"
    with pytest.raises(MetadataError) as caught:
        build_vqa(frame)
    message = str(caught.value)
    assert "row 4" in message and "'holdout' is not a split" in message
    assert f"location {location!r}" in message and f"row {second_view + 1}" in message


def test_cli_uses_the_column_and_ignores_it_with_the_flag(metadata_factory, tmp_path):
    frame, _ = _official(metadata_factory)
    table = tmp_path / "metadata.csv"
    frame.to_csv(table, index=False)
    assert addressvlm_main(["data", "build-vqa", str(table), "--output", str(tmp_path / "given")]) == 0
    assert (
        addressvlm_main(
            ["data", "build-vqa", str(table), "--output", str(tmp_path / "x"), "--split-ratios", "1", "0", "0"]
        )
        == 2
    )
    assert not (tmp_path / "x").exists()
    assert (
        addressvlm_main(
            ["data", "build-vqa", str(table), "--output", str(tmp_path / "drawn"), "--ignore-split-column"]
        )
        == 0
    )
    given, drawn = (load_address_dataset(str(tmp_path / name))["test"] for name in ("given", "drawn"))
    assert len(set(given["location_id"])) == 25 and len(set(drawn["location_id"])) == 4
    assert given.num_rows == 50
