"""Recipe configuration errors: every YAML value is checked against its field's type, and a bad config ends the
recipe with one line naming the file and the key (exit status 2), before anything is loaded or written."""

from __future__ import annotations

import pytest

from addressvlm.training.arguments import (
    AddressVLMTrainingArguments,
    DataArguments,
    InitArguments,
    ModelArguments,
    TrainablePartsArguments,
)
from addressvlm.training.parser import parse_args
from addressvlm.utils.errors import DEBUG_ENV

from .conftest import TINY_STAGE2, load_recipe


STAGE2_TYPES = (ModelArguments, InitArguments, TrainablePartsArguments, DataArguments, AddressVLMTrainingArguments)


def _config(tmp_path, *lines: str):
    path = tmp_path / "cfg.yaml"
    path.write_text(TINY_STAGE2.read_text() + "\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("split_turns: flase", "split_turns"),
        ("bf16: flase", "bf16"),
        ("push_to_hub: nope", "push_to_hub"),
        ('use_cpu: "no way"', "use_cpu"),
        ("lora_r: 8.5", "lora_r"),
        ("max_steps: four", "max_steps"),
        ("vision: partial", "vision"),
    ],
)
def test_misspelt_values_are_errors_naming_key_and_file(tmp_path, line, key):
    config = _config(tmp_path, line)
    with pytest.raises(ValueError, match=rf"cfg\.yaml: {key}=.* is not a valid value \(expected"):
        parse_args(STAGE2_TYPES, ["--config", str(config), "--output_dir", str(tmp_path / "out")])


def test_valid_spellings_are_converted(tmp_path):
    config = _config(tmp_path, 'split_turns: "yes"', "bf16: false", "lora_r: 8.0", "learning_rate: 1e-3")
    _, _, parts, data, train = parse_args(STAGE2_TYPES, ["--config", str(config), "--output_dir", str(tmp_path)])
    assert data.split_turns is True and train.bf16 is False
    assert parts.lora_r == 8 and isinstance(parts.lora_r, int) and train.learning_rate == 1e-3


@pytest.mark.parametrize(
    ("lines", "extra", "message"),
    [
        (["split_turns: flase"], [], "split_turns='flase' is not a valid value (expected true or false)"),
        (["lerning_rate: 1e-3"], [], "unknown argument(s) ['lerning_rate']"),
        (["learning_rate: fast"], [], "learning_rate='fast' is not a valid value"),
        (["lora_r: [1"], [], "not valid YAML at line"),
        ([], ["--lerning_rate", "1e-3"], "not used by the HfArgumentParser"),
    ],
)
def test_recipe_config_errors_are_one_line_with_status_2(tmp_path, capsys, monkeypatch, lines, extra, message):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    config = _config(tmp_path, *lines)
    output = tmp_path / "out"
    assert load_recipe("stage2").main(["--config", str(config), "--output_dir", str(output), *extra]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("error: ") and message in last
    assert not output.exists()


def test_missing_config_file_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert load_recipe("stage2").main(["--config", str(tmp_path / "no_such.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"error: Config file not found: {tmp_path / 'no_such.yaml'}"
