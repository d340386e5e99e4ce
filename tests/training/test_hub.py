"""Model card content and ``--push_to_hub`` with the Hub client mocked (no network)."""

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


def test_push_uploads_the_output_without_checkpoints(stage1_output, tmp_path):
    """huggingface_hub's own folder upload runs for real (its file filtering included); only the network calls are
    replaced: the server-side README check, the repo creation and the commit."""
    import shutil

    from huggingface_hub import HfApi

    output, _ = stage1_output
    folder = tmp_path / "output"
    shutil.copytree(output, folder)
    (folder / "runs" / "events").mkdir(parents=True)
    (folder / "runs" / "events" / "events.out.tfevents.1").write_bytes(b"x")
    (folder / ".final-staging").mkdir()
    (folder / ".final-staging" / "adapter_model.safetensors").write_bytes(b"x")
    (folder / "training_args.bin").write_bytes(b"x")
    assert list(folder.glob("checkpoint-*/optimizer.pt"))  # there is training state to leave behind

    committed = {}

    def create_commit(self, repo_id, operations, **kwargs):
        committed["repo_id"] = repo_id
        committed["paths"] = sorted(op.path_in_repo for op in operations)
        return mock.Mock(commit_url="https://hub/commit/1")

    with (
        mock.patch.object(HfApi, "create_repo") as create_repo,
        mock.patch.object(HfApi, "_validate_yaml"),
        mock.patch("huggingface_hub.hf_api.is_xet_available", return_value=False),  # the single-commit path
        mock.patch.object(HfApi, "create_commit", create_commit),
    ):
        url = push_output_to_hub(folder, "me/addressvlm-tiny", private=True, token="t")
    assert url == "https://hub/commit/1"
    create_repo.assert_called_once_with("me/addressvlm-tiny", private=True, exist_ok=True, repo_type="model")
    paths = committed["paths"]
    expected = sorted(
        str(p.relative_to(output))
        for p in output.rglob("*")
        if p.is_file()
        and not p.relative_to(output).parts[0].startswith(("checkpoint-", "runs", "."))
        and p.suffix not in (".bin", ".pt", ".pth")
    )
    assert (folder / "training_args.bin").is_file() and len(expected) > 8
    assert paths == expected  # every file of the finished output but the training state
    assert "adapter_model.safetensors" in paths and "README.md" in paths
    assert not [p for p in paths if p.startswith(("checkpoint-", "runs/", ".")) or p.endswith((".bin", ".pt"))]


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
