"""`addressvlm eval` / `addressvlm probe` run for real on the tiny model: outputs, exit statuses, early errors."""

import json

import pytest
from PIL import Image

from addressvlm.cli import main


def _eval(model, folder, out, *extra):
    return main(["eval", "--model", model, "--dataset", str(folder), "--output-dir", str(out), *extra])


def test_eval_writes_predictions_and_metrics_with_the_default_settings(tiny_checkpoint, vqa_dataset, tmp_path, capsys):
    """Only the required options (answers cut at 4 tokens to keep it quick): test split, greedy, batch 16, float32
    on a CPU, every question of every image; the Table 2 row is printed."""
    folder, split = vqa_dataset(n_images=3)
    out = tmp_path / "eval"
    assert _eval(tiny_checkpoint, folder, out, "--max-new-tokens", "4", "--no-progress") == 0
    settings = json.loads((out / "eval_settings.json").read_text())
    assert (settings["split"], settings["decoding"], settings["batch_size"]) == ("test", "greedy", 16)
    assert (settings["dtype"], settings["device"], settings["temperature"]) == ("float32", "cpu", None)
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == sum(len(row["questions"]) for row in split) == 27
    assert {p["id"] for p in predictions} == set(split["id"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["eval"]["n_images"], metrics["eval"]["n_questions"], metrics["eval"]["n_failed"]) == (3, 27, 0)
    assert "A_sd" in metrics
    assert "27 questions on 3 images" in capsys.readouterr().out


def test_eval_exits_1_on_an_unreadable_image_and_a_rerun_resumes_it(tiny_checkpoint, vqa_dataset, tmp_path):
    folder, split = vqa_dataset(n_images=2, broken_image=1)
    out = tmp_path / "eval"
    assert _eval(tiny_checkpoint, folder, out, "--max-new-tokens", "2", "--no-progress") == 1
    assert json.loads((out / "metrics.json").read_text())["eval"]["n_failed"] == 9  # its 9 questions
    Image.new("RGB", (80, 60), "gray").save(split[1]["image"])  # repaired: the next run retries that image
    assert _eval(tiny_checkpoint, folder, out, "--max-new-tokens", "2", "--no-progress") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["eval"]["n_images"], metrics["eval"]["n_failed"]) == (2, 0)


def test_bad_input_exits_2_naming_the_folder_and_split_before_loading(vqa_dataset, tmp_path, capsys):
    folder, _ = vqa_dataset(n_images=1)
    capsys.readouterr()  # the fixture's own progress output
    assert _eval("no-such-model", folder, tmp_path / "eval", "--split", "validation") == 2
    assert capsys.readouterr().err.strip() == f"error: {folder} has no split 'validation'; it has ['test']"
    rag = ("--rag", str(tmp_path), "--prompt-style", "georeasoner")
    assert _eval("no-such-model", folder, tmp_path / "eval", *rag) == 2
    assert "--rag and --prompt-style georeasoner do not combine" in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_bad_option_values_are_usage_errors_naming_the_flag(capsys):
    for extra, flag in ((["--dtype", "float64"], "--dtype"), (["--batch-size", "many"], "--batch-size")):
        with pytest.raises(SystemExit) as exit_info:
            _eval("m", "d", "o", *extra)
        assert exit_info.value.code == 2 and flag in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--model", "m"])
    assert exit_info.value.code == 2 and "--dataset, --output-dir" in capsys.readouterr().err


def test_probe_with_only_the_required_options_samples_three_images(tiny_checkpoint, vqa_dataset, tmp_path):
    folder, _ = vqa_dataset(n_images=4)
    out = tmp_path / "probe"
    argv = ["probe", "--model", tiny_checkpoint, "--dataset", str(folder), "--output-dir", str(out)]
    assert main([*argv, "--samples", "5", "--max-new-tokens", "4", "--no-progress"]) == 0
    report = json.loads((out / "probe_counts.json").read_text())
    assert len(report["images"]) == 3  # --limit defaults to 3
    assert (report["settings"]["temperature"], report["settings"]["candidates_listed"]) == (0.8, False)
    assert all(entry["samples"] == 5 for entry in report["images"])


def test_an_output_dir_that_is_a_file_is_refused_before_loading(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for command in ("eval", "probe"):
        argv = [command, "--model", "no-model", "--dataset", "no-data", "--output-dir", str(tmp_path / "afile")]
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'afile'} exists and is not a folder"
