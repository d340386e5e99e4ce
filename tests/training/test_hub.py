"""Model card content and ``--push_to_hub`` with the network calls of the Hub client mocked."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from addressvlm.training.hub import push_output_to_hub
from addressvlm.training.model_card import build_model_card


pytestmark = pytest.mark.xdist_group("training-recipes")


def test_model_card_names_base_data_hyperparameters_and_metrics():
    card = build_model_card(
        stage="stage 2 (address localization tuning)",
        base_model="xtuner/llava-phi-3-mini-hf",
        datasets=[{"name": "pitts-vqa", "split": "train", "rows": 177840}],
        hyperparameters={"learning_rate": 1e-5, "lora_r": 128, "gradient_accumulation_steps": 16},
        trainable_parts=[
            {"group": "projector", "mode": "full", "parameters": 12_589_056, "trainable": 12_589_056, "lr": 1e-5}
        ],
        parents=[{"name": "stage1", "mode": "merge"}],
        metrics={"train_loss": 0.4321},
        evaluation={"A_sd": 69.6, "eval_batch_size": 8},
        repo_id="me/addressvlm-pitts",
    )
    front, body = card.split("---\n", 2)[1:]
    assert "base_model: xtuner/llava-phi-3-mini-hf" in front and "library_name: peft" in front
    assert "# AddressVLM stage 2 (address localization tuning)" in body
    assert "| `pitts-vqa` | train | 177840 |" in body
    assert "| learning_rate | 1e-05 |" in body and "| lora_r | 128 |" in body
    assert "| projector | full | 12,589,056 | 12,589,056 | 1e-05 |" in body
    assert "`stage1`: merged into the base" in body
    assert "| train_loss | 0.4321 |" in body and "| A_sd | 69.6 |" in body and "| eval_batch_size | 8 |" in body
    assert 'load_pretrained("me/addressvlm-pitts")' in body


def test_model_card_for_a_local_base_has_no_hub_base():
    card = build_model_card(stage="stage 1", base_model="../tiny-model", is_adapter=False)
    assert "base_model:" not in card and "library_name" not in card
    assert "a local path, relative to this folder" in card and "Not evaluated yet" in card


# A finished stage-2 output as the Trainer, the artefact writer and TensorBoard leave it: file -> pushed?
OUTPUT_FILES = {
    "README.md": True,
    "adapter_config.json": True,
    "adapter_model.safetensors": True,
    "adapter_chain.json": True,
    "chat_template.jinja": True,
    "generation_config.json": True,
    "processor_config.json": True,
    "tokenizer.json": True,
    "tokenizer_config.json": True,
    "all_results.json": True,
    "parents/stage1/adapter_config.json": True,
    "parents/stage1/adapter_model.safetensors": True,
    "training_args.bin": False,
    "checkpoint-6/adapter_model.safetensors": False,
    "checkpoint-6/optimizer.pt": False,
    "checkpoint-6/scheduler.pt": False,
    "checkpoint-6/rng_state.pth": False,
    "checkpoint-6/trainer_state.json": False,
    "checkpoint-12/global_step12/mp_rank_00_model_states.pt": False,
    "checkpoint-12/README.md": False,
    "runs/Dec01_12-00-00_host/events.out.tfevents.1733054400.host.1.0": False,
    ".final-staging/adapter_model.safetensors": False,
    ".cache/huggingface/upload/README.md.metadata": False,
}


def test_push_uploads_the_output_without_checkpoints(tmp_path):
    """The ignore patterns push_output_to_hub hands to upload_folder, run through huggingface_hub's own matcher on
    a folder laid out as a real output: exactly the finished artefact survives. Only the network calls are mocked."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    folder = tmp_path / "output"
    for name in OUTPUT_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}" if name.endswith(".json") else "x")
    with mock.patch.object(HfApi, "create_repo") as create_repo, mock.patch.object(HfApi, "upload_folder") as upload:
        upload.return_value = mock.Mock(commit_url="https://hub/commit/1")
        assert push_output_to_hub(folder, "me/addressvlm-tiny", private=True, token="t") == "https://hub/commit/1"
    create_repo.assert_called_once_with("me/addressvlm-tiny", private=True, exist_ok=True, repo_type="model")
    sent = upload.call_args.kwargs
    assert (sent["folder_path"], sent["repo_id"]) == (str(folder), "me/addressvlm-tiny")

    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    pushed = set(filter_repo_objects(files, ignore_patterns=sent["ignore_patterns"]))
    assert pushed == {name for name, kept in OUTPUT_FILES.items() if kept}


def test_recipe_push_sends_the_finished_output_with_its_card(run_stage1, tmp_path):
    seen = {}

    def upload_folder(folder_path, **kwargs):
        seen["files"] = sorted(p.name for p in Path(folder_path).iterdir())
        seen["card"] = (Path(folder_path) / "README.md").read_text()
        return mock.Mock(commit_url="url")

    with mock.patch("addressvlm.training.hub.HfApi") as api_class:
        api_class.return_value.upload_folder.side_effect = upload_folder
        run_stage1(
            tmp_path / "pushed", max_steps=1, push_to_hub="true", hub_model_id="me/tiny", base_model_id="me/base"
        )
    assert api_class.return_value.create_repo.call_args.args == ("me/tiny",)
    for name in ("adapter_config.json", "adapter_model.safetensors", "generation_config.json", "tokenizer.json"):
        assert name in seen["files"]
    assert "base_model: me/base" in seen["card"] and 'load_pretrained("me/tiny")' in seen["card"]
    assert "train_loss" in seen["card"]


def test_push_without_repo_id_is_an_error(run_stage1, tmp_path):
    with pytest.raises(ValueError, match="hub_model_id"):
        run_stage1(tmp_path / "no-repo", max_steps=1, push_to_hub="true")
