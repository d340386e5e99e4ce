"""``addressvlm data`` sub-commands through their `register` function: synth-city -> build-vqa -> build-alignment."""

from __future__ import annotations

import argparse

import pytest

from addressvlm.data.cli import register
from addressvlm.data.options import AlignmentOptions, LocatabilityOptions, SynthCityOptions, VQAOptions
from addressvlm.data.storage import load_address_dataset
from addressvlm.utils.options import OptionsParser, options_from


@pytest.fixture
def parser():
    root = OptionsParser(prog="addressvlm data")
    register(root.add_subparsers(dest="subcommand"))
    return root


def _run(parser, *argv) -> int:
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def test_every_option_has_help(parser):
    subcommands = parser._subparsers._group_actions[0].choices
    assert set(subcommands) == {
        "synth-city",
        "build-vqa",
        "build-alignment",
        "stats",
        "locatability",
        "georeasoner-format",
    }
    for name, sub in subcommands.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        assert sub.format_help()


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["synth-city", "--output", "o"], SynthCityOptions),
        (["build-vqa", "m.csv", "--output", "o"], VQAOptions),
        (["build-alignment", "m.csv", "--output", "o"], AlignmentOptions),
        (["locatability", "m.csv", "--output", "o"], LocatabilityOptions),
    ],
)
def test_command_defaults_are_the_builders_defaults(parser, command, options):
    assert options_from(parser.parse_args(command), options) == options()


def test_city_to_vqa_to_alignment(parser, tmp_path, capsys):
    pytest.importorskip("pyrosm")
    city = tmp_path / "city"
    assert (
        _run(
            parser,
            "synth-city",
            "--output",
            city,
            "--city",
            "kotka",
            "--locations",
            24,
            "--views",
            2,
            "--image-size",
            40,
            "--tile-size",
            96,
            "--max-streets",
            6,
            "--min-locations-per-street",
            4,
            "--no-progress",
        )
        == 0
    )
    assert "24 locations, 48 images, 6 streets" in capsys.readouterr().out
    assert (
        "synth-city --output <dir> --city kotka --locations 24 --views 2 --image-size 40"
        in (city / "README.md").read_text()
    )  # the rebuild line names the command's own flags
    assert _run(parser, "build-vqa", city / "metadata.csv", "--output", tmp_path / "vqa", "--seed", 1) == 0
    out = capsys.readouterr().out
    assert "questions/image" in out and "train" in out
    assert (
        _run(
            parser,
            "build-alignment",
            city / "metadata.csv",
            "--output",
            tmp_path / "stage1",
            "--size",
            64,
            "--vqa-dataset",
            tmp_path / "vqa",
            "--satellite",
            "unlabeled",
            "--no-progress",
        )
        == 0
    )
    stage1 = load_address_dataset(tmp_path / "stage1")["train"]
    vqa = load_address_dataset(tmp_path / "vqa")
    assert set(stage1["location_id"]) == set(vqa["train"]["location_id"])
    assert stage1[0]["city"] == "kotka"
    capsys.readouterr()
    assert _run(parser, "stats", tmp_path / "vqa", "--by-type") == 0
    assert "multiple_choice" in capsys.readouterr().out
    assert _run(parser, "stats", tmp_path / "stage1") == 0
    assert "alignment" in capsys.readouterr().out
    assert _run(parser, "stats", city / "metadata.csv", "--check-images") == 0
    assert "valid" in capsys.readouterr().out


def test_bad_input_exits_with_message(parser, tmp_path, capsys, metadata_factory):
    frame = metadata_factory(n_locations=3)
    frame.loc[1, "lat"] = 200
    frame.to_csv(tmp_path / "m.csv", index=False)
    assert _run(parser, "build-vqa", tmp_path / "m.csv", "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "row 2, column 'lat'" in err
    assert _run(parser, "build-alignment", tmp_path / "m.csv", "--output", tmp_path / "o", "--delta", 1.5) == 2
    assert "delta" in capsys.readouterr().err


def test_builders_never_write_over_their_inputs(parser, image_table, capsys):
    city = image_table.parent
    before = sorted(str(p.relative_to(city)) for p in city.rglob("*"))
    assert _run(parser, "build-vqa", image_table, "--output", city, "--overwrite") == 2
    assert f"the output folder {city} contains the input" in capsys.readouterr().err
    vqa = city / "vqa"
    assert _run(parser, "build-vqa", image_table, "--output", vqa) == 0  # inside the city folder: fine
    capsys.readouterr()
    vqa_files = sorted(str(p.relative_to(vqa)) for p in vqa.rglob("*"))
    args = ["build-alignment", image_table, "--vqa-dataset", vqa, "--output", vqa, "--overwrite", "--size", 28]
    assert _run(parser, *args, "--no-progress") == 2
    assert f"the output folder {vqa} is the input {vqa}" in capsys.readouterr().err
    assert sorted(str(p.relative_to(vqa)) for p in vqa.rglob("*")) == vqa_files
    assert [p for p in sorted(str(p.relative_to(city)) for p in city.rglob("*")) if not p.startswith("vqa")] == before


def test_tiny_model_refuses_a_non_empty_folder(tmp_path, capsys):
    from addressvlm.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "tokenizer.json").write_text("the run's tokenizer")
    assert main(["tiny-model", "--output", str(run)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["tokenizer.json"]
    assert (run / "tokenizer.json").read_text() == "the run's tokenizer"
    (tmp_path / "afile").write_text("x")
    assert main(["tiny-model", "--output", str(tmp_path / "afile")]) == 2
    assert capsys.readouterr().err.strip().endswith("afile exists and is not a folder")
    assert main(["tiny-model", "--output", str(run), "--overwrite"]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in run.iterdir()}


def test_check_images_decodes_and_build_alignment_names_bad_files(parser, image_table, capsys):
    import numpy as np
    from PIL import Image

    city = image_table.parent
    pixels = np.random.default_rng(5).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(city / "full.jpg", quality=95)
    data = (city / "full.jpg").read_bytes()
    (city / "trunc90.jpg").write_bytes(data[: int(len(data) * 0.9)])  # truncated in its scan data
    text = image_table.read_text().splitlines()
    first = text[1].split(",")
    text[1] = ",".join(["trunc90.jpg", *first[1:]])
    (city / "m.csv").write_text("\n".join(text) + "\n")
    assert _run(parser, "stats", city / "m.csv", "--check-images") == 2
    assert "row 1, column 'image': 'trunc90.jpg' cannot be read as an image: image file is truncated" in (
        capsys.readouterr().err
    )
    args = ["build-alignment", city / "m.csv", "--output", city / "al", "--size", 28, "--no-progress"]
    assert _run(parser, *args) == 2
    assert f"Cannot decode image file {city / 'trunc90.jpg'}" in capsys.readouterr().err
    assert not (city / "al").exists()
