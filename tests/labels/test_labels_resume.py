"""Kill the labelling CLI mid-run (SIGKILL) and re-run it: nothing is lost, duplicated or recomputed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from addressvlm.labels.cli import main


REPO = Path(__file__).resolve().parents[2]
ROWS = 12
CONCURRENCY = 2


def _finals(cache: Path) -> list[dict]:
    if not cache.exists():
        return []
    records = []
    for line in cache.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if record.get("kind") == "final":
            records.append(record)
    return records


def test_killed_run_resumes_without_losses_duplicates_or_recomputation(tmp_path, labels_kit, chat_server):
    source = labels_kit.make_stage1_dataset(tmp_path, n=ROWS, validation=2)
    server = chat_server(delay=0.25, max_requests=3 * ROWS)
    out, cache = tmp_path / "out", tmp_path / "labels.jsonl"
    args = ["label-alignment", str(source), "-o", str(out), "--cache", str(cache), "--no-progress"]
    args += ["--backend", "http", "--base-url", server.url, "--model", "m", "--concurrency", str(CONCURRENCY)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "addressvlm.labels.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while len(_finals(cache)) < 4:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the labelling run made no progress"
            time.sleep(0.02)
        process.kill()  # SIGKILL: no cleanup, no flush
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stderr.close()
    assert process.returncode == -9
    assert not out.exists()  # no partial output dataset

    finished_before = {record["id"] for record in _finals(cache)}
    assert 4 <= len(finished_before) < ROWS
    hits_before = Counter(labels_kit.street_of(prompt) for prompt in server.prompts())
    with open(cache, "ab") as handle:  # and a record torn by the kill
        handle.write(b'{"kind":"final","key":"0123456789abcdef","id":"s1-torn","rea')

    server.delay = 0.0
    assert main(args) == 0

    labelled = [row for split in ("train", "validation") for row in _load(out)[split]]
    assert sorted(row["id"] for row in labelled) == [f"s1-{i:03d}" for i in range(ROWS)]
    assert all(row["label_source"] == "model" for row in labelled)

    finals = _finals(cache)
    assert len(finals) == ROWS and len({record["key"] for record in finals}) == ROWS  # no duplicates
    hits = Counter(labels_kit.street_of(prompt) for prompt in server.prompts())
    street_of_id = {row["id"]: row["street"] for row in labelled}
    for row_id in finished_before:
        assert hits[street_of_id[row_id]] == 1, f"{row_id} was requested again after it was finished"
    assert sum(hits.values()) <= ROWS + CONCURRENCY  # only requests in flight at the kill were repeated
    assert sum(hits.values()) - sum(hits_before.values()) <= ROWS - len(finished_before) + CONCURRENCY

    report = json.loads((out / "label_report.json").read_text())
    assert report["from_cache"] == len(finished_before) and report["cache"]["torn_lines"] == 1
    assert report["model"] == ROWS and report["failed"] == 0


def _load(path):
    from addressvlm.data.storage import load_address_dataset

    return load_address_dataset(path)
