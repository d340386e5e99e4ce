"""`addressvlm eval` / `addressvlm probe`: options, defaults (run for real) and early errors."""

import argparse

import pytest

from addressvlm.inference.cli import build_parser, register


def _subcommands(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_top_level_commands_with_documented_options():
    commands = _subcommands(build_parser())
    assert set(commands) == {"eval", "probe"}
    for name, command in commands.items():
        options = [a for a in command._actions if a.option_strings and a.dest != "help"]
        assert all(a.help for a in options), name
        assert callable(command.get_default("func"))
    eval_options = {s for a in commands["eval"]._actions for s in a.option_strings}
    expected = {"--split", "--limit", "--batch-size", "--max-new-tokens", "--temperature", "--output-dir", "--dtype"}
    assert expected | {"--device", "--adapter", "--model", "--dataset"} <= eval_options
    probe_options = {s for a in commands["probe"]._actions for s in a.option_strings}
    assert {"--samples", "--list-candidates", "--candidates", "--streets-geojson", "--city"} <= probe_options


def test_eval_with_only_the_required_options_uses_the_documented_defaults(tiny_checkpoint, vqa_dataset, tmp_path):
    """The command runs for real: test split, greedy decoding, batch 16, float32 on a CPU, all images (answers are
    cut at 4 tokens to keep the test quick)."""
    import json

    from addressvlm.cli import main

    folder, split = vqa_dataset(n_images=3)
    out = tmp_path / "eval"
    argv = ["eval", "--model", tiny_checkpoint, "--dataset", str(folder), "--output-dir", str(out)]
    assert main([*argv, "--max-new-tokens", "4"]) == 0
    settings = json.loads((out / "eval_settings.json").read_text())
    assert (settings["split"], settings["decoding"], settings["batch_size"]) == ("test", "greedy", 16)
    assert (settings["dtype"], settings["device"], settings["temperature"]) == ("float32", "cpu", None)
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == sum(len(row["questions"]) for row in split) == 27  # every question of every test image
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["eval"]["n_images"], metrics["eval"]["n_questions"]) == (3, 27) and "A_sd" in metrics


def test_probe_with_only_the_required_options_samples_three_images(tiny_checkpoint, vqa_dataset, tmp_path):
    import json

    from addressvlm.cli import main

    folder, _ = vqa_dataset(n_images=4)
    out = tmp_path / "probe"
    argv = ["probe", "--model", tiny_checkpoint, "--dataset", str(folder), "--output-dir", str(out)]
    assert main([*argv, "--samples", "5", "--max-new-tokens", "4", "--no-progress"]) == 0
    report = json.loads((out / "probe_counts.json").read_text())
    assert len(report["images"]) == 3  # --limit defaults to 3
    assert (report["settings"]["temperature"], report["settings"]["candidates_listed"]) == (0.8, False)
    assert all(entry["samples"] == 5 for entry in report["images"])


def test_registers_into_the_main_command():
    from addressvlm.cli import build_parser as main_parser

    assert {"eval", "probe"} <= set(_subcommands(main_parser()))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "--model", "m"])  # --dataset and --output-dir are required


def test_an_output_dir_that_is_a_file_is_refused_before_loading(tmp_path, capsys):
    from addressvlm.cli import main

    (tmp_path / "afile").write_text("x")
    for command in ("eval", "probe"):
        argv = [command, "--model", "no-model", "--dataset", "no-data", "--output-dir", str(tmp_path / "afile")]
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'afile'} exists and is not a folder"
