"""split_conversation_turns: one row per question, the image placeholder on every row, questions kept aligned."""

import pytest
from datasets import Dataset

from addressvlm.training.arguments import DataArguments
from addressvlm.training.data import split_conversation_turns


def _row():
    turns = [
        {"from": "human", "value": "<image>\nWhich district? (A) X (B) Kluuvi"},
        {"from": "gpt", "value": "B"},
        {"from": "human", "value": "What district is shown?"},
        {"from": "gpt", "value": "Kluuvi"},
    ]
    questions = [{"type": "multiple_choice", "reference": "B"}, {"type": "generation", "reference": "Kluuvi"}]
    return {"id": "r0", "image": "a.jpg", "conversations": turns, "questions": questions}


def test_each_question_becomes_its_own_conversation():
    rows = split_conversation_turns(Dataset.from_list([_row()])).to_list()
    assert [r["conversations"] for r in rows] == [
        [{"from": "human", "value": "Which district? (A) X (B) Kluuvi"}, {"from": "gpt", "value": "B"}],
        [{"from": "human", "value": "What district is shown?"}, {"from": "gpt", "value": "Kluuvi"}],
    ]
    assert [r["questions"][0]["type"] for r in rows] == ["multiple_choice", "generation"]
    assert all(r["image"] == "a.jpg" and r["id"] == "r0" for r in rows)


def test_unpaired_turns_name_the_row():
    row = _row()
    row["conversations"] = row["conversations"][:3]
    with pytest.raises(ValueError, match="row r0: turns are not human/gpt pairs"):
        split_conversation_turns(Dataset.from_list([row]))


def test_question_types_are_validated():
    with pytest.raises(ValueError, match="needs split_turns"):
        DataArguments(dataset_paths=["x"], question_types=["generation"])
    with pytest.raises(ValueError, match="unknown type"):
        DataArguments(dataset_paths=["x"], split_turns=True, question_types=["essay"])
