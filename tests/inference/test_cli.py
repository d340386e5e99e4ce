"""`addressvlm eval` / `addressvlm probe` argument parsing."""

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


def test_defaults():
    parser = build_parser()
    args = parser.parse_args(["eval", "--model", "m", "--dataset", "d", "--output-dir", "o"])
    assert (args.split, args.batch_size, args.temperature, args.limit, args.dtype) == ("test", 16, 0.0, None, "auto")
    args = parser.parse_args(["probe", "--model", "m", "--dataset", "d", "--output-dir", "o"])
    assert (args.samples, args.temperature, args.limit, args.list_candidates) == (100, 0.8, 3, False)


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
