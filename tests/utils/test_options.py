"""Options declared once as dataclasses: the sub-command parses them, errors and help name them with dashes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from addressvlm.cli import build_parser
from addressvlm.utils.options import OptionsParser, add_command, option, options_from


@dataclass
class _Options:
    metadata: str = option(help="metadata table", positional=True)
    output: str = option(help="output folder")
    image_size: int = option(128, help="side in pixels")
    ratios: list[float] = option([0.7, 0.2, 0.1], help="shares", nargs=3)
    overwrite: bool = option(False, help="replace")


def _parser():
    root = OptionsParser(prog="t")
    add_command(root.add_subparsers(dest="cmd"), "build", _Options, func=lambda args: 0, help="build it")
    return root


def test_options_round_trip_with_both_spellings():
    args = _parser().parse_args(["build", "meta.csv", "--output", "o", "--image-size", "64", "--overwrite"])
    assert options_from(args, _Options) == _Options("meta.csv", "o", 64, [0.7, 0.2, 0.1], True)
    args = _parser().parse_args(["build", "m", "--output", "o", "--image_size", "32", "--ratios", "1", "0", "0"])
    assert options_from(args, _Options) == _Options("m", "o", 32, [1.0, 0.0, 0.0], False)
    assert _Options("m", "o").ratios is not _Options("m", "o").ratios  # list defaults are not shared


def test_required_and_bad_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["build", "m", "--image-size", "64"])
    assert exit_info.value.code == 2 and "--output" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["build", "m", "--output", "o", "--image-size", "big"])
    assert exit_info.value.code == 2 and "--image-size" in capsys.readouterr().err


def test_help_shows_dashed_flags_and_defaults():
    text = _parser()._subparsers._group_actions[0].choices["build"].format_help()
    assert "--image-size IMAGE_SIZE" in text and "--image_size" not in text and "(default: 128)" in text


def test_every_addressvlm_subcommand_parser_can_hold_options():
    parser = build_parser()
    assert isinstance(parser, OptionsParser)
    data = parser._subparsers._group_actions[0].choices["data"]
    assert all(isinstance(p, OptionsParser) for p in data._subparsers._group_actions[0].choices.values())


def test_switches_take_no_value(capsys):
    text = _parser()._subparsers._group_actions[0].choices["build"].format_help()
    assert "--overwrite " in text and "[OVERWRITE]" not in text
    with pytest.raises(SystemExit):
        _parser().parse_args(["build", "m", "--output", "o", "--overwrite", "yes"])


@dataclass
class _Defaults:
    """Options whose help is their entry here.

    Args:
        output (`str`, *optional*, defaults to `"out"`): the output folder (50 % full) of [`_Options`], with
            ``--output`` spelt as a flag.
    """

    output: str = option("out")
    progress: bool = option(True, help="no progress bars")
    side_by_side: bool = option(True, flag="--one-at-a-time", help="one lane")
    epochs: tuple[float, float] = option((3, 8), metavar=("A", "B"), help="two stages")
    seed: list[int] | None = option(None, action="append", type=int, help="repeatable")
    width: int = 64  # not an option(): not on the command line


def _defaults_parser():
    root = OptionsParser(prog="t")
    add_command(root.add_subparsers(dest="cmd"), "run", _Defaults, func=lambda args: 0, help="run it")
    return root


def test_true_switches_flags_tuples_appends_and_plain_fields():
    parse = _defaults_parser().parse_args
    assert options_from(parse(["run"]), _Defaults) == _Defaults()
    args = parse(["run", "--no-progress", "--one_at_a_time", "--epochs", "1", "2", "--seed", "4", "--seed", "5"])
    assert options_from(args, _Defaults) == _Defaults("out", False, False, (1.0, 2.0), [4, 5])
    text = _defaults_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--no-progress " in text and "--one-at-a-time " in text and "--epochs A B" in text
    assert "--width" not in text and "(default: True)" not in text and "--side-by-side" not in text
    with pytest.raises(SystemExit):
        parse(["run", "--width", "3"])


def test_help_comes_from_the_docstring_and_an_undocumented_option_is_refused():
    text = " ".join(_defaults_parser()._subparsers._group_actions[0].choices["run"].format_help().split())
    assert (
        "--output OUTPUT the output folder (50 % full) of _Options, with --output spelt as a flag (default: out)"
        in text
    )

    @dataclass
    class Undocumented:
        size: int = option(3)

    root = OptionsParser(prog="t")
    with pytest.raises(TypeError, match="Undocumented.size: document it"):
        add_command(root.add_subparsers(), "run", Undocumented, func=lambda args: 0, help="run it")
