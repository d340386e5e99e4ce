"""The stage-1 alignment set: grafted images, answers, ablation options, merging cities and general VQA."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from addressvlm.data.alignment import ALIGNMENT_COLUMNS, build_alignment_set
from addressvlm.data.graft import graft
from addressvlm.data.storage import load_address_dataset, read_build_info
from addressvlm.data.templates import ALIGNMENT_QUESTIONS
from addressvlm.data.validation import MetadataError
from addressvlm.data.vqa import build_vqa


def test_one_grafted_image_per_view(image_table, tmp_path):
    dataset = build_alignment_set(image_table, tmp_path / "stage1", size=64, image_format="png", progress=False)
    train = dataset["train"]
    assert train.column_names == list(ALIGNMENT_COLUMNS)
    assert train.num_rows == 24
    loaded = load_address_dataset(tmp_path / "stage1")["train"]
    row = loaded[0]
    assert row["answer"] == f"{row['street']}, {row['district']}"
    assert row["question"] in ALIGNMENT_QUESTIONS
    assert row["reason"] == "" and row["label_source"] == "" and row["source"] == "alignment"
    assert row["conversations"] == [
        {"from": "human", "value": row["question"]},
        {"from": "gpt", "value": row["answer"]},
    ]
    assert row["satellite"].endswith(f"tiles/{row['location_id']}.png")
    expected = graft(Image.open(row["satellite"]), Image.open(row["street_view"]), delta=0.5, size=64)
    np.testing.assert_array_equal(np.asarray(Image.open(row["image"])), np.asarray(expected))


def test_unlabeled_tiles_delta_and_per_location(image_table, tmp_path):
    dataset = build_alignment_set(
        image_table,
        tmp_path / "s",
        size=64,
        delta=0.3,
        satellite="unlabeled",
        per="location",
        progress=False,
        image_format="png",
    )
    loaded = load_address_dataset(tmp_path / "s")["train"]
    assert dataset["train"].num_rows == len(loaded) == 12
    assert len(set(loaded["location_id"])) == 12
    row = loaded[3]
    assert "/tiles_plain/" in row["satellite"]
    expected = graft(Image.open(row["satellite"]), Image.open(row["street_view"]), delta=0.3, size=64)
    np.testing.assert_array_equal(np.asarray(Image.open(row["image"])), np.asarray(expected))
    assert read_build_info(tmp_path / "s")["arguments"]["delta"] == 0.3


def test_density_options_and_validation_split(image_table, tmp_path):
    dataset = build_alignment_set(
        image_table,
        tmp_path / "s",
        size=32,
        views_per_location=1,
        location_fraction=0.5,
        validation_fraction=0.34,
        progress=False,
    )
    assert dataset["train"].num_rows + dataset["validation"].num_rows == 6
    assert not set(dataset["train"]["location_id"]) & set(dataset["validation"]["location_id"])
    assert read_build_info(tmp_path / "s")["counts"]["rows_dropped_by_subsampling"] == 18


def test_vqa_train_locations_only(image_table, tmp_path):
    build_vqa(image_table, tmp_path / "vqa")
    dataset = build_alignment_set(image_table, tmp_path / "s", size=32, vqa_dataset=tmp_path / "vqa", progress=False)
    vqa_train = set(load_address_dataset(tmp_path / "vqa")["train"]["location_id"])
    assert set(dataset["train"]["location_id"]) == vqa_train
    assert read_build_info(tmp_path / "s")["counts"]["rows_outside_vqa_train"] == 24 - 2 * len(vqa_train)


def test_several_cities_are_merged(image_table, tmp_path):
    dataset = build_alignment_set(
        [image_table, image_table], tmp_path / "s", size=32, cities=["pitts", "sf"], progress=False
    )
    train = dataset["train"]
    assert train.num_rows == 48
    assert pd.Series(train["city"]).value_counts().to_dict() == {"pitts": 24, "sf": 24}


def test_missing_satellite_column_is_reported(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=3)
    with pytest.raises(MetadataError) as info:
        build_alignment_set(frame, tmp_path / "s", progress=False)
    assert info.value.kinds == {"missing_column"}
    frame["satellite"] = ["tiles/a.png", "", "tiles/b.png"] * 3
    with pytest.raises(MetadataError) as info:
        build_alignment_set(frame, tmp_path / "s", progress=False)
    assert [issue.row for issue in info.value.report.issues] == [2, 5, 8]
    assert not (tmp_path / "s").exists()


def test_invalid_delta_fails_before_any_work(image_table, tmp_path):
    with pytest.raises(ValueError, match="delta"):
        build_alignment_set(image_table, tmp_path / "s", delta=0.0, progress=False)
    assert not (tmp_path / "s").exists()


def test_general_vqa_mixed_at_ratio(image_table, tmp_path):
    general_dir = tmp_path / "general"
    general_dir.mkdir()
    records = [
        {
            "id": str(i),
            "image": f"coco/{i}.jpg",
            "conversations": [{"from": "human", "value": f"<image>\nWhat is {i}?"}, {"from": "gpt", "value": str(i)}],
        }
        for i in range(30)
    ]
    (general_dir / "mix.json").write_text(json.dumps(records))
    dataset = build_alignment_set(
        image_table,
        tmp_path / "s",
        size=32,
        general_vqa_json=general_dir / "mix.json",
        general_vqa_ratio=0.5,
        progress=False,
    )
    train = dataset["train"].to_pandas()
    assert (train["source"] == "general").sum() == 12 and (train["source"] == "alignment").sum() == 24
    general = train[train["source"] == "general"].iloc[0]
    assert general["label_source"] == "general" and general["location_id"] == ""
    assert general["question"].startswith("What is")
    loaded = load_address_dataset(tmp_path / "s")["train"].to_pandas()
    image = loaded.loc[loaded["source"] == "general", "image"].iloc[0]
    assert image.startswith(str(general_dir / "coco"))
    assert read_build_info(tmp_path / "s")["counts"]["general_vqa"] == {"requested": 12, "added": 12, "available": 30}


def test_malformed_general_json_names_the_record(image_table, tmp_path):
    (tmp_path / "bad.json").write_text(
        json.dumps([{"conversations": [{"from": "human", "value": "x"}]}, {"image": "a"}])
    )
    with pytest.raises(ValueError, match="record 2"):
        build_alignment_set(
            image_table, tmp_path / "s", size=32, general_vqa_json=tmp_path / "bad.json", progress=False
        )


def test_city_to_alignment(small_city, tmp_path):
    dataset = build_alignment_set(small_city.metadata, tmp_path / "s", size=112, per="location", progress=False)
    assert dataset["train"].num_rows == small_city.locations
    row = load_address_dataset(tmp_path / "s")["train"][0]
    assert Image.open(row["image"]).size == (112, 112)


def test_same_inputs_same_bytes(image_table, tmp_path):
    for name in ("a", "b"):
        build_alignment_set(image_table, tmp_path / name / "s", size=32, per="location", progress=False)
    files = sorted(p.relative_to(tmp_path / "a" / "s") for p in (tmp_path / "a" / "s").rglob("*") if p.is_file())
    assert len(files) > 12
    for name in files:
        if name.name == "build_info.json":  # records the absolute output folder; the rest must match
            first, second = (read_build_info(tmp_path / n / "s") for n in "ab")
            assert first.pop("image_root_absolute") != second.pop("image_root_absolute")
            assert first == second
            continue
        assert (tmp_path / "a" / "s" / name).read_bytes() == (tmp_path / "b" / "s" / name).read_bytes(), name


def test_nothing_left_names_the_reason(image_table, tmp_path):
    """The hint used to name vqa_dataset and subsampling even when neither was given."""
    build_vqa(image_table, tmp_path / "vqa", split_ratios=(0, 0, 1))  # no training locations at all
    with pytest.raises(ValueError, match=r"no street views left .*: 24 rows in the metadata, 24 outside the train"):
        build_alignment_set(image_table, tmp_path / "s", size=32, vqa_dataset=tmp_path / "vqa", progress=False)
    assert not (tmp_path / "s").exists()
