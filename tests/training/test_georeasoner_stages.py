"""The GeoReasoner baseline through the real recipes: reasoning LoRA (stage A), location LoRA stacked on it (stage B),
reloaded from disk and evaluated with GeoReasoner's JSON prompt."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from addressvlm.cli import main
from addressvlm.data import build_vqa, load_address_dataset
from addressvlm.data.georeasoner import LOCATION_QUESTION, REASONING_QUESTION
from addressvlm.inference import evaluate_model
from addressvlm.models import load_pretrained

from .conftest import RECIPES, fixed_batch, load_recipe, logits_of, quick_args


pytestmark = pytest.mark.xdist_group("training-recipes")

CONFIGS = RECIPES / "configs" / "llava_phi3"


@pytest.fixture(scope="module")
def georeasoner_sets(tmp_path_factory):
    """A small VQA set, its GeoReasoner reasoning set (templated reasons) and its location set."""
    root = tmp_path_factory.mktemp("georeasoner-data")
    rng = np.random.default_rng(0)
    rows = []
    for location in range(12):
        for view in range(2):
            name = f"images/{location:03d}_{view}.png"
            (root / "images").mkdir(exist_ok=True)
            pixels = rng.integers(0, 60, (40, 48, 3), dtype=np.uint8)
            pixels[..., location % 3] += 120
            Image.fromarray(pixels).save(root / name)
            rows.append(dict(image=name, location_id=f"L{location}", lat=60.17 + location * 1e-3, lon=24.94))
            rows[-1].update(street=["Kaivokatu", "Esplanadi", "Mikonkatu"][location % 3])
            rows[-1].update(district=["Kluuvi", "Kaartinkaupunki"][location % 2])
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    vqa = root / "vqa"
    build_vqa(root / "metadata.csv", vqa, seed=0)
    assert main(["data", "label-georeasoner", str(vqa), "-o", str(root / "labels"), "--fallback-only"]) == 0
    assert main(["data", "georeasoner-format", str(root / "labels"), "--output", str(root / "reason")]) == 0
    assert main(["data", "georeasoner-format", str(vqa), "--output", str(root / "loc")]) == 0
    return vqa, root / "reason", root / "loc"


def test_stacked_adapters_reload_and_evaluate(tiny_checkpoint, georeasoner_sets, tmp_path):
    vqa, reason, loc = georeasoner_sets
    stage_a, stage_b = tmp_path / "reason", tmp_path / "loc"
    argv = ["--config", str(CONFIGS / "tiny_cpu_georeasoner_stage1.yaml"), "--model_name_or_path"]
    argv += [str(tiny_checkpoint), "--dataset_paths", str(reason)]
    load_recipe("stage1").run(argv + quick_args(stage_a, max_steps=3, dataloader_num_workers=0))
    argv = ["--config", str(CONFIGS / "tiny_cpu_georeasoner_stage2.yaml"), "--init_from", str(stage_a)]
    argv += ["--dataset_paths", str(loc)]
    trainer = load_recipe("stage2").run(argv + quick_args(stage_b, max_steps=3, dataloader_num_workers=0))

    # two LoRAs, the reasoning one frozen under the location one, saved as a chain
    assert list(trainer.model.active_adapters) == ["default", "stage1"]
    chain = json.loads((stage_b / "adapter_chain.json").read_text())["parents"]
    assert chain == [{"mode": "stack", "name": "stage1", "path": "stage1"}]
    reasoning_lora = load_file(stage_a / "adapter_model.safetensors")
    for key, value in load_file(stage_b / "stage1" / "adapter_model.safetensors").items():
        if "lora_" in key:
            torch.testing.assert_close(value, reasoning_lora[key], rtol=0, atol=0)
    config = json.loads((stage_b / "adapter_config.json").read_text())
    assert config["r"] == 64 and config["lora_alpha"] == 16

    # reloaded from disk it is the same model, and it evaluates with GeoReasoner's prompt
    loaded, processor = load_pretrained(stage_b)
    assert sorted(loaded.active_adapters) == ["default", "stage1"]
    batch = fixed_batch(processor, str(loc))
    torch.testing.assert_close(logits_of(loaded, batch), logits_of(trainer.model, batch), rtol=0, atol=1e-5)
    test = load_address_dataset(vqa)["test"]
    metrics = evaluate_model(
        loaded, processor, test, tmp_path / "eval", batch_size=8, max_new_tokens=24, prompt_style="georeasoner",
        show_progress=False,
    )  # fmt: skip
    counts = metrics["eval"]["parse_counts"]
    assert sum(counts.values()) == 3 * test.num_rows  # district, street and street_district questions
    records = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert {r["question"] for r in records if "parse" in r} == {REASONING_QUESTION}
    assert LOCATION_QUESTION in {
        t["value"] for row in load_address_dataset(loc)["train"] for t in row["conversations"]
    }


GEOREASONER_HPARAMS = {
    "lora_r": 64,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "learning_rate": 1e-5,
    "weight_decay": 0.1,
    "adam_beta2": 0.95,
    "warmup_steps": 0.01,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 2,  # x 8 GPUs: GeoReasoner's total batch of 64
}


def _parsed(path, stage):
    import dataclasses

    from addressvlm.training.arguments import (
        AddressVLMTrainingArguments,
        DataArguments,
        InitArguments,
        ModelArguments,
        TrainablePartsArguments,
    )
    from addressvlm.training.parser import parse_args

    types = [ModelArguments, TrainablePartsArguments, DataArguments, AddressVLMTrainingArguments]
    if stage == 2:
        types.insert(1, InitArguments)
    parsed = parse_args(types, ["--config", str(path), "--use_cpu", "true"])
    return {k: v for obj in parsed for k, v in dataclasses.asdict(obj).items()}


@pytest.mark.parametrize("dataset", ["pitts", "sf"])
def test_full_size_configs_carry_georeasoners_hyper_parameters(dataset):
    reason = _parsed(CONFIGS / f"georeasoner_{dataset}_stage1_reason.yaml", 1)
    loc = _parsed(CONFIGS / f"georeasoner_{dataset}_stage2_loc.yaml", 2)
    for merged in (reason, loc):
        for key, expected in GEOREASONER_HPARAMS.items():
            assert merged[key] == pytest.approx(expected), key
        assert getattr(merged["lr_scheduler_type"], "value", merged["lr_scheduler_type"]) == "cosine"
        assert (merged["vision"], merged["projector"], merged["llm"]) == ("frozen", "frozen", "lora")
    assert reason["num_train_epochs"] == 5  # finetune_lora_reason.sh
    assert (loc["init_from"], loc["init_mode"]) == (reason["output_dir"], "stack")
    assert reason["dataset_paths"] == [f"data/{dataset}/georeasoner_reason"]
    assert loc["dataset_paths"] == [f"data/{dataset}/georeasoner_loc"]


@pytest.mark.parametrize("backbone", ["llava_phi3", "minicpmv"])
def test_cpu_configs_of_both_backbones(backbone):
    folder = RECIPES / "configs" / backbone
    own = _parsed(folder / "quickstart_cpu_stage1.yaml", 1)
    # the smoke configs: GeoReasoner's structure, a location LoRA stacked on the reasoning LoRA
    reason = _parsed(folder / "tiny_cpu_georeasoner_stage1.yaml", 1)
    loc = _parsed(folder / "tiny_cpu_georeasoner_stage2.yaml", 2)
    assert reason["llm"] == loc["llm"] == "lora" and loc["init_mode"] == "stack"
    assert (reason["lora_r"], reason["lora_alpha"], reason["weight_decay"]) == (64, 16, 0.1)
    assert loc["init_from"] == reason["output_dir"]
    assert reason["max_text_length"] == own["max_text_length"]  # the backbone's text budget
    # the quickstart row: the random LLM trained in full in both stages, as the quickstart's other rows
    reason = _parsed(folder / "quickstart_cpu_georeasoner_stage1.yaml", 1)
    loc = _parsed(folder / "quickstart_cpu_georeasoner_stage2.yaml", 2)
    assert reason["llm"] == loc["llm"] == own["llm"] == "full" and loc["init_from"] == reason["output_dir"]
    assert (reason["learning_rate"], reason["weight_decay"], reason["adam_beta2"]) == (1e-3, 0.1, 0.95)
    assert reason["max_text_length"] == own["max_text_length"]
