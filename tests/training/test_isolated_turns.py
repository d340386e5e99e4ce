"""Turn-isolated rows (``isolate_turns``): the same training signal as one row per question, in one sequence."""

from __future__ import annotations

import pytest
import torch

from addressvlm.training.arguments import DataArguments
from addressvlm.training.collator import ConversationCollator, conversation_pairs, isolated_attention_mask
from addressvlm.training.data import conversation_lengths, load_training_data


CONVERSATION = [
    {"from": "human", "value": "<image>\nWhat district is this? Answer the question using a single word or phrase."},
    {"from": "gpt", "value": "Kluuvi"},
    {"from": "human", "value": "Is this image taken on Kaivokatu, Yes or No?"},
    {"from": "gpt", "value": "No"},
    {"from": "human", "value": "What district is this? (A) Kluuvi (B) Kamppi Please select the correct option."},
    {"from": "gpt", "value": "A"},
]


def _single_turn_rows(conversation, image):
    return [
        {"conversations": [{"from": "human", "value": f"<image>\n{q}"}, {"from": "gpt", "value": a}], "image": image}
        for q, a in conversation_pairs(conversation)
    ]


def test_isolated_mask_golden():
    segments = torch.tensor([[0, 0, 1, 1, 2, -1]])
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 0, 0, 1, 0],  # turn 2 sees the prefix and itself, not turn 1
            [1, 0, 0, 0, 0, 0],  # padding attends to position 0 only (no NaN rows), its label is ignored
        ],
        dtype=torch.bool,
    )
    assert torch.equal(isolated_attention_mask(segments)[0, 0], expected)


def test_isolated_rows_give_the_single_turn_logits_and_loss(tiny_llava, make_image):
    model, processor = tiny_llava
    image = make_image(0)
    rows = [{"conversations": CONVERSATION, "image": image}, {"conversations": CONVERSATION[:4], "image": image}]
    isolated = ConversationCollator(processor, isolate_turns=True)(rows)
    singles = ConversationCollator(processor)(
        _single_turn_rows(CONVERSATION, image) + _single_turn_rows(CONVERSATION[:4], image)
    )
    assert isolated["attention_mask"].shape == (2, 1, isolated["input_ids"].shape[1], isolated["input_ids"].shape[1])
    assert isolated["pixel_values"].shape[0] == 2  # one image per row, not one per question
    model.eval()
    with torch.no_grad():
        out_isolated, out_singles = model(**isolated), model(**singles)
    torch.testing.assert_close(out_isolated.loss, out_singles.loss, rtol=0, atol=1e-6)
    trained = isolated["labels"][0] != -100
    per_turn = torch.cat([out_singles.logits[k][singles["labels"][k] != -100] for k in range(3)])
    torch.testing.assert_close(out_isolated.logits[0][trained], per_turn, rtol=0, atol=1e-5)
    assert torch.equal(
        isolated["labels"][0][trained],
        torch.cat([singles["labels"][k][singles["labels"][k] != -100] for k in range(3)]),
    )


def test_length_column_matches_the_collated_rows(tiny_llava, make_image):
    _, processor = tiny_llava
    conversations = [CONVERSATION, CONVERSATION[:2], CONVERSATION[:4]]
    lengths, truncated = conversation_lengths(processor, [(c, True) for c in conversations], isolate_turns=True)
    for conversation, length in zip(conversations, lengths):
        batch = ConversationCollator(processor, isolate_turns=True)(
            [{"conversations": conversation, "image": make_image(1)}]
        )
        assert batch["input_ids"].shape[1] == length
    assert truncated == 0


def test_isolate_turns_and_split_turns_are_exclusive():
    with pytest.raises(ValueError, match="choose one"):
        DataArguments(dataset_paths=["x"], isolate_turns=True, split_turns=True)


@pytest.mark.xdist_group("training-recipes")
def test_recipe_trains_isolated_rows_with_length_grouping(tmp_path, tiny_checkpoint, vqa_dataset):
    import json

    from .conftest import TINY_STAGE2, load_recipe, quick_args

    argv = ["--config", str(TINY_STAGE2), "--init_from", "", "--model_name_or_path", tiny_checkpoint]
    argv += ["--dataset_paths", vqa_dataset, "--isolate_turns", "true", "--train_sampling_strategy", "group_by_length"]
    trainer = load_recipe("stage2").run(argv + quick_args(tmp_path / "run", max_steps=3, save_strategy="no"))
    assert trainer.train_dataset.num_rows == 24  # rows are not split
    history = json.loads((tmp_path / "run" / "trainer_state.json").read_text())["log_history"]
    fractions = [entry["padding_fraction"] for entry in history if "loss" in entry]
    assert len(fractions) == 3 and all(0 <= f < 0.5 for f in fractions)
    data = load_training_data(DataArguments(dataset_paths=[vqa_dataset], isolate_turns=True), trainer.processing_class)
    assert data.isolate_turns and data.train["length"] == trainer.train_dataset["length"]
