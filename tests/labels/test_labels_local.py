"""The local backend on the tiny random LlavaPhi3: the machinery, not the text quality."""

from __future__ import annotations

import json

from addressvlm.labels.backends import LabelRequest, LocalBackend
from addressvlm.labels.cli import main


def test_local_backend_batches_and_reports_per_request(tiny_checkpoint, tmp_path):
    from PIL import Image

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (60, 40), (i * 80, 20, 20)).save(paths[-1])
    backend = LocalBackend(tiny_checkpoint, batch_size=2)
    requests = [
        LabelRequest(str(paths[0]), "Why is this Forbes Ave?", max_new_tokens=5),
        LabelRequest(str(paths[1]), "Why?", max_new_tokens=5, temperature=0.9, seed=1),
        LabelRequest(str(paths[2]), "Why is this Penn Ave in Oakland?", max_new_tokens=5),
    ]
    seen = []
    results = backend.generate(requests, lambda index, result: seen.append(index))
    assert sorted(seen) == [0, 1, 2] and all(result.ok for result in results)
    texts = [result.text for result in results]
    assert all(isinstance(text, str) and text for text in texts)
    assert len(set(texts)) > 1  # the answers depend on the image and question: generation really ran
    assert dict(backend.stats) == {"requests": 3, "succeeded": 3}
    # batching changes nothing: every request alone gives the same text (greedy, or sampled with its own seed)
    single = LocalBackend(tiny_checkpoint, batch_size=1)
    assert [single.generate([request])[0].text for request in requests] == texts


def test_label_alignment_with_the_tiny_model(tiny_checkpoint, tmp_path, labels_kit):
    source = labels_kit.make_stage1_dataset(tmp_path, n=4, validation=1)
    out = tmp_path / "out"
    args = ["label-alignment", str(source), "-o", str(out), "--backend", "local", "--model", tiny_checkpoint]
    assert main([*args, "--max-new-tokens", "6", "--label-retries", "1", "--batch-size", "2", "--no-progress"]) == 0

    report = json.loads((out / "label_report.json").read_text())
    assert report["total"] == 4 and report["failed"] == 0 and report["done"] == 4
    assert report["model"] + report["fallen_back"] == 4
    # a random model writes junk: it falls back after 1 + label_retries attempts
    assert report["attempts"] == report["model"] + 2 * report["fallen_back"]
    assert report["fallen_back"] >= 1 and report["retried"] == report["fallen_back"]
    assert report["backend"]["backend"] == "local" and report["backend"]["events"]["requests"] == report["attempts"]

    from addressvlm.data.storage import load_address_dataset

    rows = [row for split in load_address_dataset(out).values() for row in split]
    assert len(rows) == 4
    assert sum(row["label_source"] == "template" for row in rows) == report["fallen_back"]
    assert all(row["reason"] and row["conversations"][1]["value"].endswith(row["reason"]) for row in rows)
