"""The collator (padding, label masks, lazy images) and the training data pipeline (lengths, mixing, multi-city)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from addressvlm.data import load_address_dataset
from addressvlm.training.arguments import DataArguments
from addressvlm.training.collator import IGNORE_INDEX, ConversationCollator
from addressvlm.training.data import conversation_lengths, load_training_data


@pytest.fixture
def processor(tiny_llava):
    processor = tiny_llava[1]
    limit = processor.max_text_length
    yield processor
    processor.max_text_length = limit


def test_batch_is_right_padded_with_masked_labels_and_stacked_images(processor, vqa_dataset):
    rows = [load_address_dataset(vqa_dataset)["train"][i] for i in (0, 1, 2)]
    rows.insert(
        1, {"conversations": [{"from": "human", "value": "Hello"}, {"from": "gpt", "value": "Hi"}], "image": ""}
    )
    batch = ConversationCollator(processor)(rows)
    examples = [processor.build_training_example(r["conversations"], r["image"] or None) for r in rows]
    lengths = [len(e["input_ids"]) for e in examples]
    assert batch["input_ids"].shape == (4, max(lengths)) and len(set(lengths)) > 1
    for i, (example, n) in enumerate(zip(examples, lengths)):
        assert torch.equal(batch["input_ids"][i, :n], example["input_ids"])
        assert torch.equal(batch["labels"][i, :n], example["labels"])
        assert (batch["input_ids"][i, n:] == processor.tokenizer.pad_token_id).all()
        assert (batch["labels"][i, n:] == IGNORE_INDEX).all()
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (max(lengths) - n)
    # three images in row order; the text-only row contributes none
    expected = torch.stack([examples[i]["pixel_values"] for i in (0, 2, 3)])
    torch.testing.assert_close(batch["pixel_values"], expected)
    image_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    assert not (batch["labels"] == image_id).any()


def test_text_only_batch_has_no_pixel_values_and_relative_images_use_image_root(processor, vqa_dataset, tmp_path):
    text_only = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yes"}], "image": None}]
    assert "pixel_values" not in ConversationCollator(processor)(text_only)
    row = dict(load_address_dataset(vqa_dataset)["train"][0])
    relative = {"conversations": row["conversations"], "image": "images/vqa-000.png"}
    root = str(load_address_dataset(vqa_dataset)["train"][0]["image"]).rsplit("/images/", 1)[0]
    batch = ConversationCollator(processor, image_root=root)([relative])
    torch.testing.assert_close(batch["pixel_values"], ConversationCollator(processor)([row])["pixel_values"])
    with pytest.raises(FileNotFoundError, match="vqa-000.png"):
        ConversationCollator(processor, image_root=str(tmp_path))([relative])


def test_length_column_equals_the_collated_lengths_including_truncation(processor, vqa_dataset):
    rows = list(load_address_dataset(vqa_dataset)["train"])
    processor.max_text_length = 30  # truncates the longer conversations
    lengths, truncated = conversation_lengths(processor, ((r["conversations"], bool(r["image"])) for r in rows))
    actual = [len(processor.build_training_example(r["conversations"], r["image"])["input_ids"]) for r in rows]
    assert lengths == actual
    assert 0 < truncated < len(rows)


def test_multi_city_and_general_vqa_mixing(processor, vqa_dataset, stage1_dataset, tmp_path, make_image):
    (tmp_path / "coco").mkdir()
    make_image(0).save(tmp_path / "coco" / "a.png")
    records = [
        {
            "image": "coco/a.png",
            "conversations": [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A cat"}],
        },
        {"conversations": [{"from": "human", "value": "Say hi"}, {"from": "gpt", "value": "Hi"}]},
    ]
    general = tmp_path / "general.json"
    general.write_text(json.dumps(records * 10))
    args = DataArguments(
        dataset_paths=[vqa_dataset, stage1_dataset], general_vqa_json=str(general), general_vqa_ratio=0.25
    )
    data = load_training_data(args, processor, seed=0)
    assert [(s["name"], s["rows"]) for s in data.sources] == [("vqa", 24), ("stage1", 24), ("general.json", 12)]
    assert len(data.train) == 60 and set(data.train.column_names) == {"image", "conversations", "length"}
    assert data.image_root == str(tmp_path.resolve())
    batch = ConversationCollator(processor, image_root=data.image_root)(list(data.train))
    assert batch["pixel_values"].shape[0] == sum(1 for row in data.train if row["image"])
    assert sorted(data.train["length"]) == sorted(batch["attention_mask"].sum(1).tolist())
    assert not list(Path(vqa_dataset).rglob("cache-*.arrow"))  # nothing written into the dataset folders


def test_data_arguments_errors_name_the_field():
    with pytest.raises(ValueError, match="general_vqa_json"):
        DataArguments(dataset_paths=["x"], general_vqa_ratio=1.0)
    with pytest.raises(ValueError, match="dataset_paths"):
        load_training_data(DataArguments(), processor=None)


@pytest.mark.parametrize("strategy", ["group_by_length", "random"])
def test_split_turns_with_length_grouping_warns(processor, vqa_dataset, caplog, strategy):
    args = DataArguments(dataset_paths=[vqa_dataset], split_turns=True)
    with caplog.at_level(logging.WARNING, logger="addressvlm.training.data"):
        data = load_training_data(args, processor, seed=0, sampling_strategy=strategy)
    assert len(data.train) > 24  # the 24 multi-turn rows were split
    warned = [r for r in caplog.records if "group_by_length" in r.getMessage()]
    assert len(warned) == (1 if strategy == "group_by_length" else 0)


def test_eval_subset_is_seeded_and_spread_over_locations(processor, tmp_path):
    """``max_eval_samples`` draws rows across the split with the run's seed, not the table's first rows."""
    from datasets import load_from_disk

    from .conftest import write_address_dataset

    folder = write_address_dataset(tmp_path, "vqa", rows=80)  # 40 locations, two views each, in table order
    splits = load_from_disk(str(folder))
    splits["validation"] = splits["train"]
    splits.save_to_disk(str(tmp_path / "vqa80"))
    (tmp_path / "vqa80" / "build_info.json").write_text((folder / "build_info.json").read_text())
    args = DataArguments(dataset_paths=[str(tmp_path / "vqa80")], eval_split="validation", max_eval_samples=10)

    def chosen(seed):
        return [row["image"] for row in load_training_data(args, processor, seed=seed).eval]

    first_rows = [row["image"] for row in load_address_dataset(str(tmp_path / "vqa80"))["validation"]][:10]
    assert len(chosen(0)) == 10 and chosen(0) == chosen(0)
    assert chosen(0) != first_rows and chosen(0) != chosen(1)
    assert max(int(Path(image).stem.split("-")[1]) for image in chosen(0)) > 20  # beyond the first 10 locations


def test_missing_training_images_are_found_before_training(processor, vqa_dataset, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(Path(vqa_dataset).parent, root)
    (root / "images" / "vqa-003.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"\[train\]: 1 image file\(s\) do not exist: .*vqa-003\.png"):
        load_training_data(DataArguments(dataset_paths=[str(root / "vqa")]), processor)


def test_the_wrong_kind_of_dataset_is_refused(tmp_path, vqa_dataset, stage1_dataset, capsys):
    from addressvlm.training.data import check_training_datasets

    from .conftest import TINY_STAGE2, load_recipe

    with pytest.raises(ValueError, match=r"is a stage-1 alignment set .*; stage-2 training needs a street-view VQA"):
        check_training_datasets(DataArguments(dataset_paths=[stage1_dataset]), ("vqa",), "stage-2 training")
    check_training_datasets(DataArguments(dataset_paths=[vqa_dataset]), ("vqa",), "stage-2 training")
    argv = ["--config", str(TINY_STAGE2), "--dataset_paths", stage1_dataset, "--output_dir", str(tmp_path / "o")]
    assert load_recipe("stage2").main(argv) == 2
    assert "stage-2 training needs a street-view VQA set" in capsys.readouterr().err
