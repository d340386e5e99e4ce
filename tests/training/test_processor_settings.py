"""A processor setting a run trains with is the one every later command uses (fidelity review, finding 2).

Stage 2 trains with non-default settings (images padded to a square, a 300-token text budget); loading the output,
``addressvlm eval``, ``addressvlm probe`` and ``addressvlm merge`` must all see the same settings.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from addressvlm.cli import main as addressvlm_main
from addressvlm.models import load_pretrained, processor_settings
from addressvlm.training.merge import merge_adapter

from .conftest import ROOT


pytestmark = pytest.mark.xdist_group("training-recipes")

TRAINED = {"pad_image_to_square": True, "max_text_length": 300}


def _vqa_with_all_splits(root: Path) -> Path:
    """The inference tests' VQA rows (80x60 images: padding matters), saved as train, validation and test."""
    from datasets import DatasetDict, load_from_disk

    spec = importlib.util.spec_from_file_location("inference_fixtures", ROOT / "tests" / "inference" / "conftest.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    folder = fixtures.write_vqa_dataset(root, n_images=4)
    split = load_from_disk(str(folder))["test"]
    target = root / "vqa_all"
    DatasetDict({"train": split, "validation": split, "test": split}).save_to_disk(str(target))
    (target / "build_info.json").write_text((folder / "build_info.json").read_text())
    return target


@pytest.fixture(scope="module")
def padded_run(tmp_path_factory, run_stage2, tiny_checkpoint):
    root = tmp_path_factory.mktemp("processor-settings")
    dataset = _vqa_with_all_splits(root)
    output = root / "stage2"
    run_stage2(
        output,
        "",
        max_steps=2,
        model_name_or_path=tiny_checkpoint,
        dataset_paths=str(dataset),
        pad_image_to_square="true",
        max_text_length=TRAINED["max_text_length"],
    )
    return output, dataset, root


def test_training_output_reloads_with_the_training_processor(padded_run, tiny_checkpoint):
    output, _, _ = padded_run
    _, base_processor = load_pretrained(tiny_checkpoint)
    assert processor_settings(base_processor) != TRAINED  # the base's defaults differ: the test can fail
    model, processor = load_pretrained(output)
    assert processor_settings(processor) == TRAINED
    assert model.get_base_model().config.pad_image_to_square is True
    _, on_base = load_pretrained(tiny_checkpoint, adapter=output)
    assert processor_settings(on_base) == TRAINED
    _, overridden = load_pretrained(output, pad_image_to_square=False)
    assert overridden.pad_image_to_square is False


def test_eval_and_probe_record_the_training_processor(padded_run):
    output, dataset, root = padded_run
    evaluated = root / "eval"
    argv = ["eval", "--model", str(output), "--dataset", str(dataset), "--output-dir", str(evaluated)]
    assert addressvlm_main([*argv, "--limit", "2", "--no-progress"]) == 0
    settings = json.loads((evaluated / "eval_settings.json").read_text())
    assert settings["processor"] == TRAINED

    probed = root / "probe"
    argv = ["probe", "--model", str(output), "--dataset", str(dataset), "--output-dir", str(probed)]
    assert addressvlm_main([*argv, "--limit", "1", "--samples", "2", "--no-progress"]) == 0
    report = json.loads((probed / "probe_counts.json").read_text())
    assert report["settings"]["processor"] == TRAINED


def test_merged_model_keeps_the_training_processor(padded_run):
    output, _, root = padded_run
    merged = merge_adapter(output, root / "merged")
    saved = json.loads((merged / "processor_config.json").read_text())
    assert {key: saved[key] for key in TRAINED} == TRAINED
    model, processor = load_pretrained(merged)
    assert processor_settings(processor) == TRAINED
    assert model.config.pad_image_to_square is True
