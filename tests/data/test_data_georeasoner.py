"""``addressvlm data georeasoner-format``: GeoReasoner's reasoning-tuning and location-tuning sets."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from addressvlm.cli import main
from addressvlm.data import build_vqa, load_address_dataset, read_build_info
from addressvlm.data.georeasoner import LOCATION_QUESTION, REASONING_QUESTION, location_tuning_row


@pytest.fixture
def vqa_set(image_table, tmp_path):
    output = tmp_path / "vqa"
    build_vqa(image_table, output, seed=1)
    return output


def test_location_tuning_row_merges_the_naming_turns():
    questions = [
        {"question": "District?", "answer": "Kluuvi", "level": "district", "type": "generation"},
        {"question": "On Kaivokatu?", "answer": "No", "level": "street", "type": "judgement"},
        {"question": "Street?", "answer": "Esplanadi", "level": "street", "type": "generation"},
    ]
    questions = [{**q, "reference": q["answer"], "options": []} for q in questions]
    conversations = [turn for q in questions for turn in ({"from": "human", "value": q["question"]},
                                                          {"from": "gpt", "value": q["answer"]})]  # fmt: skip
    row = {
        "id": "r",
        "street": "Esplanadi",
        "district": "Kluuvi",
        "questions": questions,
        "conversations": conversations,
    }
    new = location_tuning_row(row)
    assert [q["question"] for q in new["questions"]] == [LOCATION_QUESTION, "On Kaivokatu?"]
    assert [t["value"] for t in new["conversations"]] == [
        LOCATION_QUESTION,
        '{"district": "Kluuvi", "street": "Esplanadi"}',
        "On Kaivokatu?",
        "No",
    ]
    assert new["questions"][0]["reference"] == "Esplanadi, Kluuvi"
    with pytest.raises(ValueError, match="row 'r': 1 question-answer turns but 3 questions"):
        location_tuning_row({**row, "conversations": conversations[:2]})


def test_location_set_keeps_the_locatable_training_images(vqa_set, image_table, tmp_path, capsys):
    source = load_address_dataset(vqa_set)
    train_images = list(source["train"]["image"])
    table = pd.read_csv(image_table)
    kept_names = [name for name in table["image"] if str(image_table.parent / name) in train_images[::2]]
    table[table["image"].isin(kept_names)].to_csv(tmp_path / "kept.csv", index=False)

    output = tmp_path / "loc"
    argv = ["data", "georeasoner-format", str(vqa_set), "--output", str(output)]
    assert main([*argv, "--keep-images", str(tmp_path / "kept.csv")]) == 0
    assert f"{len(train_images) - len(kept_names)} training rows below the locatability cut" in capsys.readouterr().out

    result = load_address_dataset(output)
    assert sorted(result["train"]["image"]) == sorted(train_images[::2])
    for row in result["train"]:
        turns = row["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert [q["question"] for q in row["questions"]] == [t["value"] for t in turns[::2]]
        for question, answer in zip(turns[::2], turns[1::2]):
            if question["value"] == LOCATION_QUESTION:
                assert json.loads(answer["value"]) == {"district": row["district"], "street": row["street"]}
            else:
                assert "JSON" not in question["value"]  # judgement and multiple choice as they were
    assert all(LOCATION_QUESTION in [t["value"] for t in row["conversations"]] for row in result["validation"])
    assert result["test"].to_list() == source["test"].to_list()  # evaluated with --prompt-style georeasoner
    info = read_build_info(output)
    assert info["georeasoner_format"]["kind"] == "location" and info["builder"] == read_build_info(vqa_set)["builder"]

    # a table that keeps no training image is an error naming both inputs
    table.iloc[:0].to_csv(tmp_path / "none.csv", index=False)
    argv = ["data", "georeasoner-format", str(vqa_set), "--output", str(tmp_path / "loc2")]
    assert main([*argv, "--keep-images", str(tmp_path / "none.csv")]) == 2
    assert "no training row is left" in capsys.readouterr().err


def test_reasoning_set_from_labels(vqa_set, tmp_path, capsys):
    labelled = tmp_path / "labelled"
    assert (
        main(["data", "label-georeasoner", str(vqa_set), "-o", str(labelled), "--fallback-only", "--no-progress"]) == 0
    )
    output = tmp_path / "reason"
    assert main(["data", "georeasoner-format", str(labelled), "--output", str(output)]) == 0
    assert "reasoning-tuning set" in capsys.readouterr().out
    source = load_address_dataset(labelled)["train"]
    result = load_address_dataset(output)["train"]
    assert result.num_rows == source.num_rows > 0
    for before, row in zip(source, result):
        assert row["conversations"][0]["value"] == REASONING_QUESTION == row["question"]
        target = json.loads(row["conversations"][1]["value"])
        assert target == {"district": before["district"], "street": before["street"], "reasons": before["reason"]}
    assert read_build_info(output)["builder"] == "label-georeasoner"  # still a stage-1 set for recipes/stage1.py
    # a reasoning set cannot be filtered by locatability, and a stage-1 alignment-style input is refused
    argv = ["data", "georeasoner-format", str(labelled), "--output", str(tmp_path / "x"), "--keep-images", "t.csv"]
    assert main(argv) == 2
    assert "filters the training rows of a VQA set" in capsys.readouterr().err
