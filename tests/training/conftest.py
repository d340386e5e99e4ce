"""Fixtures for the training tests: small address datasets on disk (docs/data_format.md), recipe runners, batches.

The datasets are written with `datasets` directly (a saved `DatasetDict` + ``build_info.json``), so these tests do
not depend on the offline-city builder; ``test_e2e_city.py`` runs the real builder.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from addressvlm.recipes import RECIPES_DIR as RECIPES  # a checkout also links it as recipes/


ROOT = Path(__file__).resolve().parents[2]
TINY_STAGE1 = RECIPES / "configs" / "llava_phi3" / "tiny_cpu_stage1.yaml"
TINY_STAGE2 = RECIPES / "configs" / "llava_phi3" / "tiny_cpu_stage2.yaml"

STREETS = ["Forbes Avenue", "Liberty Avenue", "Market Street", "Kaivokatu"]
DISTRICTS = ["Downtown", "Oakland", "Kluuvi", "Hakaniemi"]


def _image(index: int, kind: int) -> Image.Image:
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 40, size=(60, 80, 3), dtype=np.uint8)
    pixels[..., kind % 3] += np.uint8(50 * (kind + 1))
    return Image.fromarray(pixels)


def _vqa_conversation(i: int, kind: int) -> list[dict[str, str]]:
    turns = [
        (
            "What district is shown in this photograph? Answer the question using a single word or phrase.",
            DISTRICTS[kind],
        ),
        (
            "Identify the street in this image, please. Answer the question using a single word or phrase.",
            STREETS[kind],
        ),
        (f"Is this image taken in {DISTRICTS[(kind + 1) % 4]}, Yes or No?", "No"),
    ][: 1 + i % 3]
    conversation = []
    for n, (question, answer) in enumerate(turns):
        conversation.append({"from": "human", "value": ("<image>\n" if n == 0 else "") + question})
        conversation.append({"from": "gpt", "value": answer})
    return conversation


def write_address_dataset(root: Path, kind: str, rows: int = 24) -> Path:
    """Write a tiny VQA (``kind="vqa"``) or stage-1 (``kind="stage1"``) dataset under ``root``; return its folder."""
    from datasets import Dataset, DatasetDict

    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(rows):
        address = i % 4
        name = f"images/{kind}-{i:03d}.png"
        _image(i, address).save(root / name)
        record = {
            "id": f"{kind}-{i}",
            "image": name,
            "location_id": f"loc-{i // 2}",
            "street": STREETS[address],
            "district": DISTRICTS[address],
        }
        if kind == "vqa":
            record["conversations"] = _vqa_conversation(i, address)
        else:
            question = "Which street and district is the image located? Answer the question using a single phrase."
            answer = f"{STREETS[address]}, {DISTRICTS[address]}"
            reason = "The street view in the top-right corner matches the labelled road" + " on the map" * (i % 3)
            record["conversations"] = [
                {"from": "human", "value": f"<image>\n{question}"},
                {"from": "gpt", "value": f"{answer}. {reason}."},
            ]
        records.append(record)
    dataset = Dataset.from_list(records)
    folder = root / kind
    DatasetDict({"train": dataset, "validation": dataset.select(range(4))}).save_to_disk(str(folder))
    info = {"format_version": 1, "image_root": "..", "path_columns": ["image"], "kind": kind}
    (folder / "build_info.json").write_text(json.dumps(info))
    return folder


@pytest.fixture(scope="session")
def vqa_dataset(tmp_path_factory) -> str:
    return str(write_address_dataset(tmp_path_factory.mktemp("vqa-data"), "vqa"))


@pytest.fixture(scope="session")
def stage1_dataset(tmp_path_factory) -> str:
    return str(write_address_dataset(tmp_path_factory.mktemp("stage1-data"), "stage1"))


def load_recipe(stage: str):
    """The recipe module ``addressvlm.recipes.<stage>`` (``recipes/<stage>.py`` in a checkout)."""
    return importlib.import_module(f"addressvlm.recipes.{stage}")


def quick_args(output_dir, max_steps: int = 6, **overrides) -> list[str]:
    """Command-line overrides for short, quiet, deterministic runs on top of the tiny YAML configs."""
    values = {
        "output_dir": str(output_dir),
        "max_steps": max_steps,
        "logging_steps": 1,
        "save_steps": max(1, max_steps // 2),
        "save_total_limit": 4,
        "disable_tqdm": "true",
        "activation_checkpointing": "true",
    }
    values.update(overrides)
    argv = []
    for key, value in values.items():
        argv += [f"--{key}"] + ([str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)])
    return argv


@pytest.fixture(scope="session")
def run_stage1(tiny_checkpoint, stage1_dataset):
    """``run_stage1(output_dir, **overrides)`` -> the finished Trainer of an in-process stage-1 run."""

    def _run(output_dir, max_steps: int = 6, **overrides):
        argv = ["--config", str(TINY_STAGE1), "--model_name_or_path", tiny_checkpoint]
        argv += ["--dataset_paths", stage1_dataset]
        return load_recipe("stage1").run(argv + quick_args(output_dir, max_steps, **overrides))

    return _run


@pytest.fixture(scope="session")
def run_stage2(vqa_dataset):
    """``run_stage2(output_dir, init_from, **overrides)`` -> the finished Trainer of an in-process stage-2 run."""

    def _run(output_dir, init_from, max_steps: int = 6, **overrides):
        argv = ["--config", str(TINY_STAGE2), "--init_from", str(init_from), "--dataset_paths", vqa_dataset]
        return load_recipe("stage2").run(argv + quick_args(output_dir, max_steps, **overrides))

    return _run


@pytest.fixture(scope="session")
def stage1_output(tmp_path_factory, run_stage1):
    """A finished stage-1 output (vision full, projector full, LLM LoRA) and its trained model."""
    output = tmp_path_factory.mktemp("stage1-out") / "run"
    trainer = run_stage1(output)
    return output, trainer.model.eval()


def fixed_batch(processor, dataset_folder: str, rows: int = 3) -> dict:
    """A collated batch of the first ``rows`` training rows, for comparing logits."""
    from addressvlm.data import load_address_dataset
    from addressvlm.training.collator import ConversationCollator

    dataset = load_address_dataset(dataset_folder)["train"]
    return ConversationCollator(processor)([dataset[i] for i in range(rows)])


def logits_of(model, batch):
    """Float logits of ``model`` on ``batch`` (labels dropped), in eval mode without gradients."""
    import torch

    model.eval()
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    with torch.no_grad():
        return model(**inputs).logits.float()
