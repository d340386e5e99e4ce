"""The VQA builder: question counts and wording, splits, balance, determinism and loading."""

from __future__ import annotations

import filecmp
import json
import shutil
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from addressvlm.data.storage import load_address_dataset, read_build_info
from addressvlm.data.templates import (
    DISTRICT_STEMS,
    GENERATION_SUFFIX,
    JUDGEMENT_SUFFIX,
    MULTIPLE_CHOICE_SUFFIX,
    STREET_DISTRICT_QUESTION,
    STREET_STEMS,
)
from addressvlm.data.vqa import build_vqa, vqa_question_counts, vqa_stats


STEMS = {"district": DISTRICT_STEMS, "street": STREET_STEMS}


@pytest.fixture(scope="module")
def built(tmp_path_factory, metadata_factory):
    frame = metadata_factory(n_locations=200, views=4, n_streets=30, n_districts=6, seed=5)
    out = tmp_path_factory.mktemp("vqa") / "set"
    return frame, build_vqa(frame, out, seed=11, image_root=out.parent), out


def _questions(dataset) -> pd.DataFrame:
    rows = []
    for row in dataset:
        for q in row["questions"]:
            rows.append({**q, "street": row["street"], "district": row["district"], "location_id": row["location_id"]})
    return pd.DataFrame(rows)


def test_no_location_crosses_splits_and_ratio_is_7_2_1(built):
    frame, dataset, _ = built
    locations = {split: set(part["location_id"]) for split, part in dataset.items()}
    assert not locations["train"] & locations["validation"]
    assert not locations["train"] & locations["test"]
    assert not locations["validation"] & locations["test"]
    assert [len(locations[s]) for s in ("train", "validation", "test")] == [140, 40, 20]
    assert sum(part.num_rows for part in dataset.values()) == len(frame)  # no image lost


def test_training_types_balanced_and_three_turns(built):
    _, dataset, _ = built
    train = dataset["train"]
    assert all(len(row["questions"]) == 3 for row in train)
    assert all(
        sorted(q["type"] for q in row["questions"]) == ["generation", "judgement", "multiple_choice"] for row in train
    )
    stats = vqa_stats(dataset)
    assert stats.loc["train", "questions/image"] == 3.0
    assert list(stats.columns) == ["locations", "districts", "streets", "images", "questions", "questions/image"]


def test_evaluation_questions_per_image_match_table_b2(built):
    _, dataset, _ = built
    expected = [
        ("district", "generation", None),
        ("district", "judgement", "Yes"),
        ("district", "judgement", "No"),
        ("district", "multiple_choice", None),
        ("street", "generation", None),
        ("street", "judgement", "Yes"),
        ("street", "judgement", "No"),
        ("street", "multiple_choice", None),
        ("street_district", "generation", None),
    ]
    for split in ("validation", "test"):
        for row in dataset[split]:
            got = [
                (q["level"], q["type"], q["reference"] if q["type"] == "judgement" else None) for q in row["questions"]
            ]
            assert got == expected
    counts = vqa_question_counts(dataset)
    test = counts[counts["split"] == "test"]
    judgement = test[test["type"] == "judgement"].set_index(["level", "reference_kind"])["questions"]
    assert judgement[("district", "Yes")] == judgement[("district", "No")] == dataset["test"].num_rows
    assert judgement[("street", "Yes")] == judgement[("street", "No")] == dataset["test"].num_rows


def test_wording_uses_the_paper_templates(built):
    _, dataset, _ = built
    questions = pd.concat([_questions(dataset[s]) for s in dataset], ignore_index=True)
    for q in questions.itertuples():
        if q.level == "street_district":
            assert q.question == STREET_DISTRICT_QUESTION
            assert q.reference == q.answer == f"{q.street}, {q.district}"
            continue
        stem = next(s for s in STEMS[q.level] if q.question.startswith(s + " "))
        suffix = q.question[len(stem) + 1 :]
        true_name = q.street if q.level == "street" else q.district
        if q.type == "generation":
            assert suffix == GENERATION_SUFFIX
            assert q.answer == q.reference == true_name
        elif q.type == "judgement":
            asked = JUDGEMENT_SUFFIX[q.level].split("{name}")
            name = suffix[len(asked[0]) : len(suffix) - len(asked[1])]
            assert (name == true_name) == (q.reference == "Yes")
        else:
            opts = q.options
            assert suffix == MULTIPLE_CHOICE_SUFFIX.format(level=q.level, a=opts[0], b=opts[1], c=opts[2], d=opts[3])
            assert len(set(opts)) == 4
            assert opts["ABCD".index(q.reference)] == true_name
            assert q.answer == q.reference
    used = Counter(q.question.split("?")[0] for q in questions.itertuples() if q.level == "district")
    assert len(used) >= 8  # stems are drawn from all ten


def test_multiple_choice_letters_are_uniform(built):
    _, dataset, _ = built
    letters = Counter(
        q["reference"]
        for s in dataset
        for row in dataset[s]
        for q in row["questions"]
        if q["type"] == "multiple_choice"
    )
    observed = np.array([letters[c] for c in "ABCD"], dtype=float)
    expected = observed.sum() / 4
    chi_square = ((observed - expected) ** 2 / expected).sum()
    assert observed.sum() > 1000
    assert chi_square < 16.27  # p = 0.001 with 3 degrees of freedom


def test_conversations_mirror_questions(built):
    _, dataset, _ = built
    row = dataset["train"][0]
    assert [t["from"] for t in row["conversations"]] == ["human", "gpt"] * 3
    assert row["conversations"][0]["value"] == row["questions"][0]["question"]  # no image placeholder
    assert [t["value"] for t in row["conversations"][1::2]] == [q["answer"] for q in row["questions"]]
    assert not any("<image>" in t["value"] for t in row["conversations"])


def test_same_inputs_and_seed_give_byte_identical_folders(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=30)
    build_vqa(frame, tmp_path / "a" / "set", seed=3, image_root=tmp_path)
    build_vqa(frame, tmp_path / "b" / "set", seed=3, image_root=tmp_path)
    build_vqa(frame, tmp_path / "c" / "set", seed=4, image_root=tmp_path)
    files = sorted(p.relative_to(tmp_path / "a" / "set") for p in (tmp_path / "a" / "set").rglob("*") if p.is_file())
    assert any(f.suffix == ".arrow" for f in files)
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a" / "set", tmp_path / "b" / "set", files, shallow=False)
    assert mismatch == [] and errors == []
    arrow = [f for f in files if f.suffix == ".arrow"]
    _, different, _ = filecmp.cmpfiles(tmp_path / "a" / "set", tmp_path / "c" / "set", arrow, shallow=False)
    assert different  # another seed changes the content


def test_load_resolves_images_after_moving(tmp_path, metadata_factory):
    project = tmp_path / "project"
    (project / "city").mkdir(parents=True)
    metadata_factory(n_locations=10).to_csv(project / "city" / "metadata.csv", index=False)
    build_vqa(project / "city" / "metadata.csv", project / "vqa")
    assert read_build_info(project / "vqa")["image_root"] == "../city"
    shutil.move(str(project), str(tmp_path / "moved"))
    loaded = load_address_dataset(tmp_path / "moved" / "vqa")
    image = loaded["test"][0]["image"]
    assert image.startswith(str(tmp_path / "moved" / "city" / "images"))
    assert loaded["test"].column_names[:2] == ["id", "image"]


def test_existing_output_needs_overwrite(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=10)
    build_vqa(frame, tmp_path / "set")
    with pytest.raises(FileExistsError, match="overwrite"):
        build_vqa(frame, tmp_path / "set")
    build_vqa(frame, tmp_path / "set", overwrite=True, seed=9)
    assert read_build_info(tmp_path / "set")["arguments"]["seed"] == 9
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no temporary folders left behind


def test_too_few_names_skips_and_counts(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=30, n_streets=6, n_districts=2)  # 2 districts: no district MC
    dataset = build_vqa(frame, tmp_path / "set")
    counts = read_build_info(tmp_path / "set")["counts"]
    assert counts["test"]["skipped_questions"] == {"district/multiple_choice": dataset["test"].num_rows}
    assert all(len(row["questions"]) == 8 for row in dataset["test"])


def test_turns_and_answer_style_options(metadata_factory):
    dataset = build_vqa(metadata_factory(n_locations=40), turns_per_image=7, mc_answer="letter_text")
    types = Counter(q["type"] for row in dataset["train"] for q in row["questions"])
    assert sum(types.values()) == 7 * dataset["train"].num_rows
    assert max(types.values()) - min(types.values()) <= dataset["train"].num_rows  # 3/2/2 per image
    mc = next(q for row in dataset["train"] for q in row["questions"] if q["type"] == "multiple_choice")
    assert mc["answer"] == f"({mc['reference']}) {mc['options']['ABCD'.index(mc['reference'])]}"


def test_nearby_distractors_come_from_nearest_names(metadata_factory):
    frame = metadata_factory(n_locations=120, n_streets=40, n_districts=4, seed=2)
    dataset = build_vqa(frame, distractors="nearby", nearby_pool=3)
    centroids = frame.groupby("street")[["lat", "lon"]].mean()
    scale = np.cos(np.radians(centroids["lat"].mean()))
    for row in dataset["test"]:
        mc = next(q for q in row["questions"] if q["level"] == "street" and q["type"] == "multiple_choice")
        true = centroids.loc[row["street"]]
        distance = np.hypot(centroids["lat"] - true["lat"], (centroids["lon"] - true["lon"]) * scale)
        nearest = set(distance.drop(row["street"]).sort_values(kind="stable").index[:3])
        assert set(mc["options"]) - {row["street"]} == nearest


def test_distractors_stay_in_their_city(metadata_factory):
    frame = pd.concat(
        [metadata_factory(n_locations=40, city="north", seed=1), metadata_factory(n_locations=40, city="south")],
        ignore_index=True,
    )
    frame.loc[frame["city"] == "south", ["street", "district"]] = (
        "S-" + frame.loc[frame["city"] == "south", ["street", "district"]]
    )
    dataset = build_vqa(frame)
    for row in dataset["test"]:
        for q in row["questions"]:
            assert all(o.startswith("S-") == (row["city"] == "south") for o in q["options"])


def test_view_and_location_subsampling_apply_to_training_only(metadata_factory):
    frame = metadata_factory(n_locations=100, views=4)
    full = build_vqa(frame)
    thin = build_vqa(frame, views_per_location=2, location_fraction=0.5)
    assert thin["train"].num_rows == 2 * 35  # 70 training locations -> 35, 2 views each
    assert thin["test"].num_rows == full["test"].num_rows
    assert set(thin["train"]["location_id"]) <= set(full["train"]["location_id"])


def test_general_vqa_mixed_into_training(tmp_path, metadata_factory):
    records = [
        {
            "image": f"coco/{i}.jpg",
            "conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": "A"}],
        }
        for i in range(100)
    ]
    (tmp_path / "mix.json").write_text(json.dumps(records))
    dataset = build_vqa(
        metadata_factory(n_locations=40),
        tmp_path / "set",
        general_vqa_json=tmp_path / "mix.json",
        general_vqa_ratio=0.2,
        image_root=tmp_path,
    )
    train = dataset["train"].to_pandas()
    general = train[train["id"].str.startswith("general-")]
    assert len(general) == round(0.2 * 84) and (general["location_id"] == "").all()
    assert all(len(q) == 0 for q in general["questions"])
    assert dataset["test"].num_rows == 12  # evaluation splits untouched
    loaded = load_address_dataset(tmp_path / "set")["train"].to_pandas()
    assert loaded.loc[loaded["id"].str.startswith("general-"), "image"].iloc[0].startswith(str(tmp_path / "coco"))


@pytest.mark.parametrize(
    ("n_locations", "ratios", "empty"),
    [
        (2, ["0.7", "0.2", "0.1"], ["validation", "test"]),
        (1, ["0.7", "0.2", "0.1"], ["validation", "test"]),
        (8, ["0", "0", "1"], ["train", "validation"]),
    ],
)
def test_empty_splits_are_loadable_and_named_by_eval_and_training(
    tmp_path, metadata_factory, capsys, caplog, n_locations, ratios, empty
):
    """A table with too few locations (or ratios with zeros) gives empty splits: the folder still loads, and the
    commands that need a split name it (eval exits 2 before loading any model)."""
    from addressvlm.cli import main
    from addressvlm.training.data import _address_split

    metadata_factory(n_locations=n_locations, views=2).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "vqa"
    assert main(["data", "build-vqa", str(tmp_path / "m.csv"), "--output", str(out), "--split-ratios", *ratios]) == 0
    for split in empty:
        assert f"the {split!r} split has no rows" in caplog.text
    loaded = load_address_dataset(out)
    assert sorted(loaded) == ["test", "train", "validation"]
    assert {split for split, part in loaded.items() if part.num_rows == 0} == set(empty)
    assert main(["data", "stats", str(out), "--by-type"]) == 0
    capsys.readouterr()
    split = "test" if "test" in empty else "train"
    assert main(["eval", "--model", "no-model", "--dataset", str(out), "--split", split, "--output-dir", "x"]) == 2
    assert f"the {split!r} split has no rows" in capsys.readouterr().err
    if "train" in empty:
        with pytest.raises(ValueError, match="the 'train' split has no rows"):
            _address_split([str(out)], "train", ["image", "conversations"], [])


def test_folders_with_unsaved_empty_splits_still_load(tmp_path, metadata_factory):
    """Folders written before empty splits got a shard (``datasets`` wrote none) load, with the split empty."""
    from datasets import DatasetDict, load_from_disk

    out = tmp_path / "vqa"
    build_vqa(metadata_factory(n_locations=2, views=2), out, image_root=tmp_path)
    parts = load_from_disk(str(out))
    shutil.rmtree(out / "test")
    DatasetDict({"test": parts["test"]}).save_to_disk(str(tmp_path / "old"))  # the old way: no shard at all
    shutil.copytree(tmp_path / "old" / "test", out / "test")
    assert not list((out / "test").glob("*.arrow"))
    assert load_address_dataset(out)["test"].num_rows == 0
