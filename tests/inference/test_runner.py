"""evaluate_model / `addressvlm eval`: outputs, scoring through the metric module, resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from addressvlm.inference import evaluate_model, format_table_row, load_address_accuracy, read_predictions
from addressvlm.inference.cli import main as cli_main
from addressvlm.inference.shared_prefix import SharedPrefixAnswerer


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_outputs_and_scores_on_a_small_split(tiny_llava, vqa_dataset, tmp_path):
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=3)
    out = tmp_path / "eval"
    metrics = evaluate_model(model, processor, split, out, batch_size=5, max_new_tokens=6, show_progress=False)

    records = _lines(out / "predictions.jsonl")
    assert [r["key"] for r in records] == [f"test-{i:07d}:{j}" for i in range(3) for j in range(9)]
    assert all(isinstance(r["prediction"], str) and {"correct", "valid"} <= r.keys() for r in records)
    # The saved scores are the metric's, recomputed here from the saved predictions.
    expected = load_address_accuracy().compute(
        predictions=[r["prediction"] for r in records],
        references=[r["reference"] for r in records],
        levels=[r["level"] for r in records],
        question_types=[r["type"] for r in records],
        options=[r["options"] for r in records],
    )
    saved = json.loads((out / "metrics.json").read_text())
    for key, value in expected.items():
        assert saved[key] == metrics[key] == value, key
    assert saved["n_A"] == 24 and saved["n_A_sd"] == 3
    assert saved["eval"]["batch_size"] == 5 and saved["eval"]["decoding"] == "greedy"
    assert saved["eval"]["n_questions"] == 27 and saved["eval"]["n_failed"] == 0
    assert saved["timing"]["questions_per_second"] > 0 and saved["timing"]["questions_answered"] == 27
    assert format_table_row(metrics, "tiny").startswith("| tiny | ")


def test_scores_flow_from_answers_to_table(tiny_llava, vqa_dataset, tmp_path, monkeypatch):
    """Scripted answers: every judgement answered "Yes", every other question answered correctly but one."""
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=2)

    def unique_texts(row, index):  # so that the scripted model can tell the images' questions apart
        for question in row["questions"]:
            question["question"] = f"Photo {index}. {question['question']}"
        return row

    split = split.map(unique_texts, with_indices=True)
    by_question = {q["question"]: q for row in split for q in row["questions"]}

    def scripted(self, prefixes, prompt_ids):
        texts = self.processor.tokenizer.batch_decode(prompt_ids, skip_special_tokens=True)
        answers = []
        for text in texts:
            question = next(q for key, q in by_question.items() if text.rstrip().endswith(key))
            if question["type"] == "judgement":
                answers.append("Yes")
            elif question["level"] == "street_district":
                answers.append(question["reference"].upper())  # normalised by the metric: still right
            else:
                answers.append(question["reference"])
        return answers

    monkeypatch.setattr(SharedPrefixAnswerer, "generate", scripted)
    metrics = evaluate_model(model, processor, split, tmp_path / "eval", batch_size=4, show_progress=False)
    assert metrics["A_d_J"] == metrics["A_s_J"] == 50.0  # one Yes and one No question per image and level
    assert metrics["A_d_G"] == metrics["A_d_M"] == metrics["A_s_G"] == metrics["A_s_M"] == 100.0
    assert metrics["A_d"] == 75.0 and metrics["A_sd"] == 100.0  # micro-average: J counts twice
    assert "| 100.00 | 50.00 | 100.00 | 75.00 |" in format_table_row(metrics, "scripted")
    records = _lines(tmp_path / "eval" / "predictions.jsonl")
    assert sum(r["correct"] for r in records) == 14  # 18 questions, 4 judgement "No" questions wrong


def test_resume_refuses_other_settings_or_other_questions(tiny_llava, vqa_dataset, tmp_path):
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=1)
    out = tmp_path / "eval"
    evaluate_model(model, processor, split, out, batch_size=4, max_new_tokens=3, show_progress=False)
    with pytest.raises(ValueError, match=r"batch_size: 4 before, 8 now"):
        evaluate_model(model, processor, split, out, batch_size=8, max_new_tokens=3, show_progress=False)
    _, other = vqa_dataset(n_images=1, seed=1)  # same ids, other questions
    with pytest.raises(ValueError, match=r"saved answer to test-0000000:\d was made for"):
        evaluate_model(model, processor, other, out, batch_size=4, max_new_tokens=3, show_progress=False)
    metrics = evaluate_model(
        model, processor, other, out, batch_size=8, max_new_tokens=3, overwrite=True, show_progress=False
    )
    assert metrics["eval"]["batch_size"] == 8 and metrics["timing"]["questions_resumed"] == 0


def test_unreadable_image_is_counted_and_retried(tiny_llava, vqa_dataset, tmp_path, make_image):
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=3, broken_image=1)
    out = tmp_path / "eval"
    metrics = evaluate_model(model, processor, split, out, batch_size=4, max_new_tokens=3, show_progress=False)
    assert metrics["eval"]["n_failed"] == 9 and metrics["eval"]["failed_images"] == [split[1]["image"]]
    failed = [r for r in _lines(out / "predictions.jsonl") if "error" in r]
    assert len(failed) == 9 and all(r["prediction"] == "" and not r["valid"] for r in failed)

    make_image(5).save(split[1]["image"], format="PNG")  # the file is fixed: the next run answers only those
    metrics = evaluate_model(model, processor, split, out, batch_size=4, max_new_tokens=3, show_progress=False)
    assert metrics["eval"]["n_failed"] == 0
    assert metrics["timing"]["questions_resumed"] == 18 and metrics["timing"]["questions_answered"] == 9
    assert not [r for r in _lines(out / "predictions.jsonl") if "error" in r]


def test_collect_questions_names_the_bad_row(vqa_dataset, tiny_llava, tmp_path):
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=2)

    def break_row(row, index):
        if index == 1:
            row["questions"][2]["level"] = "city"
        return row

    broken = split.map(break_row, with_indices=True)
    with pytest.raises(ValueError, match=r"row 1 \(id 'test-0000001'\), questions\[2\]: unknown level 'city'"):
        evaluate_model(model, processor, broken, tmp_path / "eval", show_progress=False)


def _eval_argv(checkpoint, dataset_dir, out, batch_size):
    return [
        "eval",
        "--model",
        str(checkpoint),
        "--dataset",
        str(dataset_dir),
        "--output-dir",
        str(out),
        "--batch-size",
        str(batch_size),
        "--max-new-tokens",
        "12",
        "--no-progress",
    ]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_files(tiny_checkpoint, vqa_dataset, tmp_path, capsys):
    """SIGKILL a CLI run after a few batches, tear its last line, resume: files equal an uninterrupted run."""
    dataset_dir, _ = vqa_dataset(n_images=8)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "addressvlm.inference.cli", *_eval_argv(tiny_checkpoint, dataset_dir, killed, 2)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    predictions = killed / "predictions.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if predictions.exists() and predictions.read_bytes().count(b"\n") >= 6:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    n_written = len(read_predictions(predictions)[0])
    assert 6 <= n_written < 72 and not (killed / "metrics.json").exists()
    with open(predictions, "ab") as handle:  # a write cut short by the kill
        handle.write(b'{"key": "test-0000007:8", "predi')

    assert cli_main(_eval_argv(tiny_checkpoint, dataset_dir, killed, 2)) == 0
    resumed = json.loads((killed / "metrics.json").read_text())
    assert resumed["timing"]["questions_resumed"] == n_written
    assert resumed["timing"]["questions_answered"] == 72 - n_written and resumed["timing"]["torn_bytes_dropped"] > 0
    assert cli_main(_eval_argv(tiny_checkpoint, dataset_dir, clean, 2)) == 0
    printed = capsys.readouterr().out
    assert printed.count("| Method | A_d^G | A_d^J | A_d^M | Ā_d | A_s^G | A_s^J | A_s^M | Ā_s | Ā | A_sd |") == 2

    for name in ("predictions.jsonl", "eval_settings.json"):
        assert (killed / name).read_bytes() == (clean / name).read_bytes(), name
    reference = json.loads((clean / "metrics.json").read_text())
    resumed.pop("timing"), reference.pop("timing")
    assert resumed == reference


def test_raising_and_lowering_the_limit(tiny_llava, vqa_dataset, tmp_path):
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=2)
    out, kwargs = tmp_path / "eval", dict(batch_size=9, max_new_tokens=3, show_progress=False)
    first = evaluate_model(model, processor, split, out, limit=1, **kwargs)
    first_answers = [r["prediction"] for r in _lines(out / "predictions.jsonl")]
    wider = evaluate_model(model, processor, split, out, limit=2, **kwargs)
    assert (first["n_A"], wider["n_A"]) == (8, 16)
    assert wider["timing"]["questions_resumed"] == 9 and wider["timing"]["questions_answered"] == 9
    narrow = evaluate_model(model, processor, split, out, limit=1, **kwargs)
    assert narrow["n_A"] == 8 and narrow["timing"]["questions_answered"] == 0
    records = _lines(out / "predictions.jsonl")  # the second image's answers are kept, after the scored ones
    assert len(records) == 18 and [r["prediction"] for r in records[:9]] == first_answers
    assert [r["key"] for r in records[9:]] == [f"test-0000001:{j}" for j in range(9)]


def test_a_reference_no_answer_can_match_fails_before_generating(vqa_dataset, tiny_llava, tmp_path, monkeypatch):
    """District names made only of symbols ('***') used to fail at scoring, after every question was answered."""
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=2)

    def symbols(row, index):
        if index == 1:
            row["questions"][0]["reference"] = "***"
        return row

    broken = split.map(symbols, with_indices=True)
    calls = []
    monkeypatch.setattr(SharedPrefixAnswerer, "iter_batches", lambda *a, **k: calls.append(1) or iter(()))
    with pytest.raises(
        ValueError, match=r"row id 'test-0000001', questions\[0\]: Generation reference without letters"
    ):
        evaluate_model(model, processor, broken, tmp_path / "eval", show_progress=False)
    assert not calls
