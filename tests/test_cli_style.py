"""One spelling per flag across commands: the weight dtype is ``--dtype`` in every command and recipe; the old
spellings (``--torch-dtype`` of the labellers, ``--torch_dtype`` / ``torch_dtype:`` of the recipes) still work but are
not advertised."""

from __future__ import annotations

import argparse

import pytest

from addressvlm.cli import build_parser
from addressvlm.training.arguments import ModelArguments
from addressvlm.training.parser import parse_args


def _commands(parser: argparse.ArgumentParser, prefix: str = ""):
    """Every (command name, parser) of the ``addressvlm`` tree."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from _commands(sub, f"{prefix}{name} ")


def test_every_command_spells_the_dtype_flag_the_same_way():
    shown = {}
    for name, parser in _commands(build_parser()):
        for action in parser._actions:
            if action.help != argparse.SUPPRESS:
                shown.update({option: name for option in action.option_strings if "dtype" in option})
    assert set(shown) == {"--dtype"}, shown
    dtype_commands = {name for name, parser in _commands(build_parser()) if "--dtype" in parser.format_help()}
    assert {"eval", "probe", "merge", "data label-alignment", "data label-georeasoner"} <= dtype_commands


@pytest.mark.parametrize("flag", ["--dtype", "--torch-dtype"])
def test_labellers_take_the_old_dtype_spelling_hidden(flag):
    parser = dict(_commands(build_parser()))["data label-alignment"]
    args = parser.parse_args(["data/stage1", "-o", "out", flag, "bfloat16"])
    assert args.dtype == "bfloat16"
    assert "--torch-dtype" not in parser.format_help()


def test_recipes_take_dtype_and_the_deprecated_torch_dtype(tmp_path):
    (model,) = parse_args((ModelArguments,), ["--dtype", "bfloat16"])
    assert model.dtype == "bfloat16"
    (model,) = parse_args((ModelArguments,), ["--torch_dtype", "float16"])
    assert model.dtype == "float16"
    old = tmp_path / "old.yaml"
    old.write_text("torch_dtype: bfloat16\n")  # a config written before the rename
    (model,) = parse_args((ModelArguments,), ["--config", str(old)])
    assert model.dtype == "bfloat16"
    (model,) = parse_args((ModelArguments,), ["--config", str(old), "--dtype", "float32"])
    assert model.dtype == "float32"  # the flag wins over the file, whichever spelling each uses
    bad = tmp_path / "bad.yaml"
    bad.write_text("dtype: float64\n")
    with pytest.raises(ValueError, match=rf"^{bad}: dtype='float64' is not a valid value \(expected one of"):
        parse_args((ModelArguments,), ["--config", str(bad)])
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("torch_dtypes: bfloat16\n")
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['torch_dtypes'\]"):
        parse_args((ModelArguments,), ["--config", str(unknown)])


def test_general_vqa_flags_are_spelt_as_the_recipe_fields_in_the_builders():
    from addressvlm.training.arguments import DataArguments

    commands = dict(_commands(build_parser()))
    fields = ("general_vqa_json", "general_vqa_ratio", "general_vqa_image_root")
    for name in ("data build-vqa", "data build-alignment"):
        shown = commands[name].format_help()
        for field in fields:
            assert "--" + field.replace("_", "-") in shown, (name, field)
        assert "--general-ratio" not in shown and "--general-image-root" not in shown
    # The recipes take the same dashed spelling (HfArgumentParser accepts both forms of a field).
    (data,) = parse_args((DataArguments,), ["--general-vqa-json", "g.json", "--general-vqa-ratio", "5"])
    assert (data.general_vqa_json, data.general_vqa_ratio) == ("g.json", 5.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--general-vqa-json", "g.json", "--general-vqa-ratio", "5", "--general-vqa-image-root", "imgs"],
        ["--general-vqa", "g.json", "--general-ratio", "5", "--general-image-root", "imgs"],  # old, hidden
    ],
)
def test_builders_take_both_spellings_of_the_general_vqa_flags(argv):
    parser = dict(_commands(build_parser()))["data build-vqa"]
    args = parser.parse_args(["metadata.csv", "--output", "out", *argv, "--turns", "6"])
    assert (args.general_vqa_json, args.general_vqa_ratio, args.general_vqa_image_root) == ("g.json", 5.0, "imgs")
    assert args.turns_per_image == 6
    defaults = parser.parse_args(["metadata.csv", "--output", "out"])
    assert (defaults.general_vqa_json, defaults.general_vqa_ratio, defaults.turns_per_image) == (None, 1.0, 3)
