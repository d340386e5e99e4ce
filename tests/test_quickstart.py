"""`addressvlm quickstart` end to end on a very small city (the README's first command, scaled down)."""

import json

import pytest

from addressvlm.cli import main


@pytest.mark.slow
def test_quickstart_runs_every_step_and_resumes(tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["quickstart", "--output", str(out), "--locations", "48", "--views", "2", "--max-streets", "6"]
    argv += ["--image-size", "56", "--stage1-epochs", "0.5", "--stage2-epochs", "0.5", "--probe-samples", "4"]
    argv += ["--eval-limit", "4", "--no-progress"]
    assert main(argv) == 0
    summary = json.loads((out / "comparison.json").read_text())
    assert list(summary["rows"]) == [
        "Zero-shot (tiny random model)",
        "Baseline (stage 2 only)",
        "AddressVLM (stage 1 + stage 2)",
        "k-NN retrieval (EfficientNet-Lite0, k=8)",
        "Zero-shot + RAG",
        "Baseline + RAG",
        "AddressVLM + RAG",
    ]
    for row in summary["rows"].values():
        assert row["n_A_d_G"] == 4 and row["n_A_d_J"] == 8  # 4 test images: one G and two J per level each
    assert summary["chance"]["district_generation"] > 0
    table = (out / "comparison.md").read_text()
    assert "| Baseline (stage 2 only) |" in table and "© OpenStreetMap contributors" in table
    hinted = (out / "eval" / "baseline_rag" / "predictions.jsonl").read_text().splitlines()[0]
    assert "For your reference, these are the addresses of some similar images" in hinted
    for path in ("runs/stage1/train_results.json", "runs/addressvlm/train_results.json", "probe/probe_counts.json",
                 "index/index_info.json"):  # fmt: skip
        assert (out / path).exists(), path
    assert list((out / "probe").glob("*.png"))
    readme = (out / "README.md").read_text()
    assert "comparison.md" in readme and "runs/stage1/" in readme
    stamp = (out / "comparison.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0  # a second run skips every finished step
    assert capsys.readouterr().out.count("already done") == 17  # 12 + index, k-NN and three RAG evaluations
    assert (out / "comparison.json").stat().st_mtime_ns >= stamp
    # --rag-training adds a stage 2 trained on hinted questions, and its row
    capsys.readouterr()
    assert main([*argv, "--rag-training"]) == 0
    assert capsys.readouterr().out.count("already done") == 17
    rows = list(json.loads((out / "comparison.json").read_text())["rows"])
    assert rows[-1] == "Baseline trained with RAG (stage 2 on hinted questions) + RAG"
    assert (out / "runs" / "rag_trained" / "train_results.json").exists()
    assert json.loads((out / "data" / "vqa_rag" / "build_info.json").read_text())["rag"]["splits"]["train"]["k"] == 8
