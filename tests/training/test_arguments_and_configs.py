"""YAML + command-line parsing, and the shipped recipe, DeepSpeed and accelerate configs."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from addressvlm.training.arguments import (
    AddressVLMTrainingArguments,
    DataArguments,
    InitArguments,
    ModelArguments,
    TrainablePartsArguments,
)
from addressvlm.training.parser import load_yaml_config, parse_args

from .conftest import ROOT


STAGE1_TYPES = (ModelArguments, TrainablePartsArguments, DataArguments, AddressVLMTrainingArguments)
STAGE2_TYPES = (ModelArguments, InitArguments, TrainablePartsArguments, DataArguments, AddressVLMTrainingArguments)
CONFIGS = ROOT / "recipes" / "configs"
TABLE_A1 = {
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 16,
    "learning_rate": 1e-5,
    "weight_decay": 0.0,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "warmup_steps": 0.03,
    "lora_r": 128,
    "lora_alpha": 256,
    "lora_dropout": 0.05,
    "max_text_length": 1472,
    "bf16": True,
}
# CPU-only overrides for parsing the GPU configs here (bf16 needs use_cpu on a machine without a GPU).
CPU = ["--use_cpu", "true"]


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_command_line_overrides_yaml_which_overrides_defaults(tmp_path):
    base = _write(tmp_path / "a.yaml", "learning_rate: 1e-4\nlora_r: 16\ndataset_paths: [x, y]\noutput_dir: out\n")
    extra = _write(tmp_path / "b.yaml", "lora_r: 32\nvision: full\n")
    model, parts, data, train = parse_args(STAGE1_TYPES, ["--config", base, "--config", extra, "--lora_alpha", "8"])
    assert train.learning_rate == 1e-4  # YAML 1.1 reads 1e-4 as a string; the flag's type converts it
    assert (parts.lora_r, parts.vision, parts.lora_alpha, parts.llm) == (32, "full", 8, "lora")
    assert data.dataset_paths == ["x", "y"]
    assert train.warmup_steps == 0.03 and train.lr_scheduler_type == "cosine"  # AddressVLM defaults
    _, parts, _, train = parse_args(STAGE1_TYPES, ["--config", base, "--lora_r", "4", "--learning_rate", "3e-5"])
    assert (parts.lora_r, train.learning_rate) == (4, 3e-5)
    # a str | bool field: the command line only takes booleans, YAML may give the string form
    tokens = _write(tmp_path / "tokens.yaml", "include_num_input_tokens_seen: non_padding\nbf16: false\n")
    *_, train = parse_args(STAGE1_TYPES, ["--config", tokens, "--output_dir", str(tmp_path)])
    assert (train.include_num_input_tokens_seen, train.bf16) == ("non_padding", False)


def test_unknown_or_invalid_yaml_values_name_the_key_and_file(tmp_path):
    bad = _write(tmp_path / "bad.yaml", "lora_rank: 8\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown argument\(s\) \['lora_rank'\]"):
        parse_args(STAGE1_TYPES, ["--config", bad])
    wrong = _write(tmp_path / "wrong.yaml", "lora_r: eight\n")
    with pytest.raises(ValueError, match="lora_r='eight'"):
        parse_args(STAGE1_TYPES, ["--config", wrong])
    mode = _write(tmp_path / "mode.yaml", "llm: half\n")
    with pytest.raises(ValueError, match=r"mode\.yaml: llm='half' is not a valid value \(expected one of"):
        parse_args(STAGE1_TYPES, ["--config", mode])
    with pytest.raises(ValueError, match="expected a mapping"):
        load_yaml_config(_write(tmp_path / "list.yaml", "- 1\n"))


def test_remove_unused_columns_must_stay_false(tmp_path):
    with pytest.raises(ValueError, match="remove_unused_columns must be False"):
        parse_args(STAGE1_TYPES, ["--output_dir", str(tmp_path), "--remove_unused_columns", "true"])


def test_every_dataclass_field_is_documented():
    for cls in STAGE2_TYPES:
        own = [f for f in dataclasses.fields(cls) if cls is not AddressVLMTrainingArguments or f.name in cls.__dict__]
        for field in own:
            assert field.metadata.get("help"), f"{cls.__name__}.{field.name} has no help"
            assert f"{field.name} (`" in cls.__doc__, f"{cls.__name__}.{field.name} missing from the docstring"


@pytest.mark.parametrize("dataset", ["pitts", "sf"])
@pytest.mark.parametrize("stage", [1, 2])
def test_minicpmv_configs_swap_only_the_backbone_and_its_parts(dataset, stage):
    """Table 7: the same stages, data and Table A1 optimisation on MiniCPM-V 2.6, with its LoRA fine-tuning parts."""
    path = CONFIGS / "minicpmv" / f"{dataset}_stage{stage}.yaml"
    parsed = parse_args(STAGE1_TYPES if stage == 1 else STAGE2_TYPES, ["--config", str(path), *CPU])
    merged = {k: v for obj in parsed for k, v in dataclasses.asdict(obj).items()}
    for key, expected in TABLE_A1.items():
        if key != "max_text_length":  # text budget of the backbone: 2048 less its largest image (1408, 1472)
            assert merged[key] == pytest.approx(expected), key
    assert merged["max_text_length"] == 2048 - 10 * 64
    assert (merged["vision"], merged["projector"], merged["llm"]) == ("frozen", "full", "lora")
    text = path.read_text()
    assert f"--config recipes/configs/minicpmv/{dataset}_stage{stage}.yaml" in text
    assert "accelerate launch --config_file recipes/accelerate/zero2_8gpu.yaml" in text
    llava = load_yaml_config(CONFIGS / "llava_phi3" / f"{dataset}_stage{stage}.yaml")
    assert load_yaml_config(path)["dataset_paths"] == llava["dataset_paths"]
    if stage == 1:
        assert merged["model_name_or_path"] == "openbmb/MiniCPM-V-2_6"
    else:
        assert merged["init_from"] == f"runs/{dataset}_minicpmv_stage1"


@pytest.mark.parametrize("dataset", ["pitts", "sf"])
@pytest.mark.parametrize("stage", [1, 2])
def test_paper_configs_carry_table_a1(dataset, stage):
    path = CONFIGS / "llava_phi3" / f"{dataset}_stage{stage}.yaml"
    values = load_yaml_config(path)
    parsed = parse_args(STAGE1_TYPES if stage == 1 else STAGE2_TYPES, ["--config", str(path), *CPU])
    merged = {k: v for obj in parsed for k, v in dataclasses.asdict(obj).items()}
    for key, expected in TABLE_A1.items():
        assert merged[key] == pytest.approx(expected), key
    assert (merged["vision"], merged["projector"], merged["llm"]) == ("full", "full", "lora")  # Table 4 "Ours"
    assert "accelerate launch --config_file recipes/accelerate/zero2_8gpu.yaml" in path.read_text()
    assert all(dataset in p for p in values["dataset_paths"])
    if stage == 2:
        assert merged["init_from"] == f"runs/{dataset}_llava_phi3_stage1" and merged["init_mode"] == "merge"


@pytest.mark.parametrize(
    "files,expected",
    [
        (["stage1_frozen_ve_frozen_llm.yaml"], ("frozen", "frozen")),  # A, B
        (["stage1_full_ve_frozen_llm.yaml"], ("full", "frozen")),  # C
        (["stage1_full_ve_lora_llm.yaml"], ("full", "lora")),  # D, E, Ours
        (["stage2_frozen_ve.yaml"], ("frozen", "lora")),  # A, C, E
        (["stage2_full_ve.yaml"], ("full", "lora")),  # B, D, Ours
    ],
)
def test_table4_files_switch_only_the_trainable_parts(files, expected):
    base = CONFIGS / "llava_phi3" / "pitts_stage1.yaml"
    table4 = CONFIGS / "llava_phi3" / "table4"
    argv = ["--config", str(base)] + [arg for f in files for arg in ("--config", str(table4 / f))]
    model, parts, data, train = parse_args(STAGE1_TYPES, argv + CPU)
    assert (parts.vision, parts.llm, parts.projector) == (*expected, "full")
    assert train.learning_rate == 1e-5 and parts.lora_r == 128  # everything else from the base config


def test_tiny_configs_take_paths_from_the_command_line(tmp_path):
    argv = ["--config", str(CONFIGS / "llava_phi3" / "tiny_cpu_stage2.yaml"), "--init_from", "s1"]
    argv += ["--dataset_paths", "a", "b"]
    model, init, parts, data, train = parse_args(STAGE2_TYPES, argv + ["--output_dir", str(tmp_path)])
    assert (init.init_from, data.dataset_paths, train.output_dir, train.use_cpu) == (
        "s1",
        ["a", "b"],
        str(tmp_path),
        True,
    )
    model, init, *_ = parse_args(STAGE2_TYPES, argv + ["--init_from", ""])
    assert init.init_from is None  # "" clears it: the stage-2-only baseline


def test_deepspeed_configs():
    stages = {}
    for name in ("zero2", "zero3", "zero2_offload"):
        config = json.loads((ROOT / "ds_configs" / f"{name}.json").read_text())
        stages[name] = config["zero_optimization"]
        for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
            assert config[key] == "auto"  # filled from the recipe's TrainingArguments
        assert config["bf16"]["enabled"] == "auto" and "optimizer" not in config
    assert stages["zero2"]["stage"] == 2 and "offload_optimizer" not in stages["zero2"]
    assert stages["zero3"]["stage"] == 3 and stages["zero3"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert stages["zero2_offload"]["offload_optimizer"]["device"] == "cpu"


@pytest.mark.parametrize(
    "name,processes,ds_file",
    [
        ("zero2_8gpu", 8, "zero2.json"),
        ("zero3_8gpu", 8, "zero3.json"),
        ("zero2_offload_8gpu", 8, "zero2_offload.json"),
        ("zero2_cpu", 2, "zero2.json"),
        ("single_gpu", 1, None),
    ],
)
def test_accelerate_configs(name, processes, ds_file):
    config = yaml.safe_load((ROOT / "recipes" / "accelerate" / f"{name}.yaml").read_text())
    assert config["num_processes"] == processes
    if ds_file:
        assert config["distributed_type"] == "DEEPSPEED"
        path = config["deepspeed_config"]["deepspeed_config_file"]
        assert path == f"ds_configs/{ds_file}" and (ROOT / path).is_file()
    assert config["use_cpu"] is (name == "zero2_cpu")
