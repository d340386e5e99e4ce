"""The predictions JSONL: batches appended and flushed, torn tails dropped, corrupt lines named."""

import json

import pytest

from addressvlm.inference.predictions import question_key, read_predictions
from addressvlm.utils.io import atomic_write_json, atomic_write_jsonl
from addressvlm.utils.jsonl import JsonlAppender


def _records(*keys):
    return [{"key": key, "prediction": f"answer {key}"} for key in keys]


def test_write_batches_and_read_back(tmp_path):
    path = tmp_path / "predictions.jsonl"
    with JsonlAppender(path) as writer:
        writer.append(_records("a:0", "a:1"))
        writer.append([])
        writer.append(_records("b:0"))
    records, torn = read_predictions(path)
    assert list(records) == ["a:0", "a:1", "b:0"] and torn == 0
    assert question_key("test-0000001", 3) == "test-0000001:3"


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "predictions.jsonl"
    atomic_write_jsonl(path, _records("a:0", "a:1"))
    clean = path.read_bytes()
    path.write_bytes(clean + b'{"key": "a:2", "predic')
    records, torn = read_predictions(path, repair=True)
    assert list(records) == ["a:0", "a:1"] and torn == len(b'{"key": "a:2", "predic')
    assert path.read_bytes() == clean  # appending continues on a line boundary
    with JsonlAppender(path) as writer:
        writer.append(_records("a:2"))
    assert list(read_predictions(path)[0]) == ["a:0", "a:1", "a:2"]


def test_the_writer_cuts_a_torn_last_line_before_appending(tmp_path):
    path = tmp_path / "predictions.jsonl"
    atomic_write_jsonl(path, _records("a:0"))
    path.write_bytes(path.read_bytes() + b'{"key": "a:1", "pre')
    with JsonlAppender(path) as writer:
        assert writer.torn_bytes == len(b'{"key": "a:1", "pre')
        writer.append(_records("a:1"))
    assert read_predictions(path) == ({r["key"]: r for r in _records("a:0", "a:1")}, 0)


def test_later_line_replaces_earlier_one(tmp_path):
    path = tmp_path / "predictions.jsonl"
    atomic_write_jsonl(path, [{"key": "a:0", "error": "missing"}, {"key": "a:0", "prediction": "Kluuvi"}])
    assert read_predictions(path)[0] == {"a:0": {"key": "a:0", "prediction": "Kluuvi"}}


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"key": "a:0"}\nnot json\n{"key": "a:1"}\n')
    with pytest.raises(ValueError, match=r"predictions.jsonl: line 2 is not a valid prediction record"):
        read_predictions(path)
    path.write_text('{"key": "a:0"}\n{"prediction": "no key"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_predictions(path)


def test_missing_file_reads_empty(tmp_path):
    assert read_predictions(tmp_path / "none.jsonl") == ({}, 0)


def test_atomic_write_json_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    atomic_write_json(path, {"A": 1.0, "name": "Töölö"})
    atomic_write_json(path, {"A": 2.0})
    assert json.loads(path.read_text()) == {"A": 2.0}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary left behind
