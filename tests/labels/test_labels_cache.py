"""The crash-safe JSONL cache and the cache keys."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from addressvlm.labels.cache import LabelCache, image_fingerprint, item_key


def _final(key: str, reason: str = "r") -> dict:
    return {"kind": "final", "key": key, "reason": reason, "label_source": "model", "attempts": 1}


def test_records_survive_reopening(tmp_path):
    path = tmp_path / "sub" / "cache.jsonl"
    with LabelCache(path) as cache:
        cache.append({"kind": "attempt", "key": "a", "attempt": 0, "text": "x", "ok": False})
        cache.append(_final("a"))
    with LabelCache(path) as cache:
        assert cache.final("a")["reason"] == "r"
        assert [r["attempt"] for r in cache.attempts("a")] == [0]
        assert cache.final("b") is None and len(cache) == 1
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_torn_last_line_is_cut_off_and_corrupt_lines_counted(tmp_path):
    path = tmp_path / "cache.jsonl"
    good = json.dumps(_final("a")) + "\n"
    path.write_text(good + "not json\n" + json.dumps(_final("b")) + "\n" + '{"kind": "final", "key": "c", "rea')
    with LabelCache(path) as cache:
        assert (cache.torn_lines, cache.corrupt_lines) == (1, 1)
        assert cache.final("a") and cache.final("b") and cache.final("c") is None
        cache.append(_final("c"))
    lines = path.read_text().splitlines()
    assert lines[-1] == json.dumps(_final("c"), separators=(",", ":"))
    assert len(lines) == 4  # the torn fragment is gone, the new record starts on its own line
    with LabelCache(path) as cache:
        assert cache.torn_lines == 0 and cache.final("c")


def test_duplicate_finals_keep_the_first(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text(json.dumps(_final("a", "first")) + "\n" + json.dumps(_final("a", "second")) + "\n")
    with LabelCache(path) as cache:
        assert cache.final("a")["reason"] == "first" and cache.duplicate_finals == 1


def test_a_second_writer_is_refused(tmp_path):
    path = tmp_path / "cache.jsonl"
    with LabelCache(path):
        with pytest.raises(RuntimeError, match="another labelling run"):
            LabelCache(path).open()
    LabelCache(path).open().close()  # free again once the first one closed


def test_append_rejects_bad_records(tmp_path):
    with LabelCache(tmp_path / "c.jsonl") as cache:
        with pytest.raises(ValueError, match="kind"):
            cache.append({"key": "a"})


def test_image_fingerprints(tmp_path):
    first = tmp_path / "a.png"
    first.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    copy = tmp_path / "b.png"
    shutil.copy(first, copy)
    assert image_fingerprint(first) == image_fingerprint(copy)  # content: location does not matter
    assert image_fingerprint(first, "stat") != image_fingerprint(copy, "stat")
    before = image_fingerprint(first, "stat")
    os.utime(first, ns=(1, 1))
    assert image_fingerprint(first, "stat") != before
    with pytest.raises(ValueError, match="mode"):
        image_fingerprint(first, "bogus")


def test_item_key_depends_on_every_input():
    base = dict(image="img", prompt="p", backend="http", model="m", settings={"temperature": 0.0})
    key = item_key(**base)
    assert len(key) == 32 and key == item_key(**base)
    for change in ({"image": "x"}, {"prompt": "q"}, {"backend": "local"}, {"model": "n"}, {"settings": {"t": 1}}):
        assert item_key(**{**base, **change}) != key
