"""LlavaPhi3Processor: chat format, <image> expansion, golden label masks, truncation, image loading."""

import pytest
import torch

from addressvlm.models.llava_phi3.processing_llava_phi3 import IGNORE_INDEX, PHI3_CHAT_TEMPLATE
from addressvlm.models.llava_phi3.tiny_llava_phi3 import make_llava_phi3_processor


TWO_TURNS = [
    {"from": "human", "value": "<image>\nWhich district is depicted in the photo?"},
    {"from": "gpt", "value": "Kluuvi"},
    {"from": "human", "value": "Which street is this?"},
    {"from": "gpt", "value": "Aleksanterinkatu"},
]


def _spans(mask):
    spans, start = [], None
    for i, flag in enumerate(mask.tolist() + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            spans.append((start, i))
            start = None
    return spans


def test_chat_template_renders_the_phi3_format(tiny_llava):
    _, processor = tiny_llava
    messages = [{"role": "user", "content": "<image>\nQ1"}, {"role": "assistant", "content": "A1"}]
    text = processor.apply_chat_template(messages)
    assert text == "<s><|user|>\n<image>\nQ1<|end|>\n<|assistant|>\nA1<|end|>\n"
    assert processor.build_prompt("Q1") == "<s><|user|>\n<image>\nQ1<|end|>\n<|assistant|>\n"
    assert processor.chat_template == PHI3_CHAT_TEMPLATE


def test_golden_label_mask_two_turns(tiny_llava, make_image):
    _, processor = tiny_llava
    tokenizer = processor.tokenizer
    example = processor.build_training_example(TWO_TURNS, make_image(0))
    ids, labels = example["input_ids"], example["labels"]
    trained = labels != IGNORE_INDEX
    assert torch.equal(labels[trained], ids[trained])
    spans = _spans(trained)
    assert len(spans) == 2
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    newline = tokenizer.convert_tokens_to_ids("<0x0A>")
    assistant = tokenizer.convert_tokens_to_ids("<|assistant|>")
    for (start, stop), answer in zip(spans, ["Kluuvi", "Aleksanterinkatu"]):
        assert tokenizer.decode(ids[start:stop]) == answer + "<|end|>"
        assert ids[stop - 1] == end_id  # <|end|> is trained
        assert ids[start - 2 : start].tolist() == [assistant, newline]  # the header is not
        assert ids[stop] == newline and labels[stop] == IGNORE_INDEX  # nor the newline after <|end|>
    image_positions = ids == processor.image_token_id
    assert int(image_positions.sum()) == processor.num_image_tokens == 16
    assert bool((labels[image_positions] == IGNORE_INDEX).all())
    assert example["pixel_values"].shape == (3, 56, 56)


def test_image_token_count_follows_the_vision_size(tiny_llava):
    _, processor = tiny_llava
    big = make_llava_phi3_processor(processor.tokenizer, image_size=112)
    assert big.num_image_tokens == (112 // 14) ** 2 == 64
    clip336 = make_llava_phi3_processor(processor.tokenizer, image_size=336)
    assert clip336.num_image_tokens == 576


def test_truncation_keeps_the_image_and_is_counted(tiny_llava, make_image):
    _, base = tiny_llava
    processor = make_llava_phi3_processor(base.tokenizer, image_size=56, max_text_length=20)
    long_turns = TWO_TURNS + [{"from": "human", "value": "More? " * 10}, {"from": "gpt", "value": "Yes " * 10}]
    example = processor.build_training_example(long_turns, make_image(0))
    ids = example["input_ids"]
    assert int((ids != processor.image_token_id).sum()) == 20
    assert int((ids == processor.image_token_id).sum()) == 16
    assert processor.truncation_stats["truncated"] == 1 and processor.truncation_stats["tokens_dropped"] > 0
    dropped = processor.truncation_stats["tokens_dropped"]
    short = processor.build_training_example([{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}])
    assert len(short["input_ids"]) < 20
    assert processor.truncation_stats == {"examples": 2, "truncated": 1, "tokens_dropped": dropped}


def test_truncation_refuses_to_cut_through_an_image(tiny_llava, make_image):
    _, base = tiny_llava
    processor = make_llava_phi3_processor(base.tokenizer, image_size=56, max_text_length=3)
    turns = [
        {"from": "system", "value": "A long preamble before the picture " * 3},
        {"from": "human", "value": "Q"},
        {"from": "gpt", "value": "A"},
    ]
    with pytest.raises(ValueError, match="cutting through an image"):
        processor.build_training_example(turns, make_image(0))


def test_pad_to_square_uses_the_mean_colour(tiny_llava):
    from PIL import Image

    _, base = tiny_llava
    processor = make_llava_phi3_processor(base.tokenizer, image_size=56, pad_image_to_square=True)
    wide = Image.new("RGB", (112, 56), (255, 255, 255))
    pixels = processor.image_processor(processor.prepare_images([wide]), return_tensors="pt")["pixel_values"][0]
    # top and bottom quarter rows are padding: the mean colour normalises to ~0
    assert pixels[:, :10].abs().max() < 0.02
    assert pixels[:, 20:36].min() > 1.0  # white stays white (well above the mean)
    cropped = make_llava_phi3_processor(base.tokenizer, image_size=56)
    pixels = cropped.image_processor(cropped.prepare_images([wide]), return_tensors="pt")["pixel_values"][0]
    assert pixels.min() > 1.0  # centre crop: no padding at all


def test_image_errors_name_the_file(tiny_llava, tmp_path):
    _, processor = tiny_llava
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="corrupt.jpg"):
        processor.build_training_example(TWO_TURNS, str(corrupt))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        processor.build_training_example(TWO_TURNS, str(tmp_path / "missing.png"))


def test_neutral_and_legacy_conversations_give_the_same_example(tiny_llava, make_image):
    """Saved conversations hold no placeholder; older ones carry LLaVA's ``<image>\\n``: both tokenize alike."""
    _, processor = tiny_llava
    neutral = [{"from": "human", "value": "Which street is this?"}, {"from": "gpt", "value": "A"}]
    legacy = [{"from": "human", "value": "<image>\nWhich street is this?"}, {"from": "gpt", "value": "A"}]
    a = processor.build_training_example(neutral, make_image(0))
    b = processor.build_training_example(legacy, make_image(0))
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    assert int((a["input_ids"] == processor.image_token_id).sum()) == processor.num_image_tokens
    text_only = processor.build_training_example(legacy)  # no image: the legacy placeholder is dropped
    assert int((text_only["input_ids"] == processor.image_token_id).sum()) == 0


def test_unknown_speaker_is_named(tiny_llava):
    _, processor = tiny_llava
    with pytest.raises(ValueError, match="unknown speaker 'bot'"):
        processor.build_training_example([{"from": "bot", "value": "hi"}])


def test_stop_tokens(tiny_llava):
    _, processor = tiny_llava
    tokens = processor.tokenizer.convert_ids_to_tokens(processor.stop_token_ids)
    assert tokens[0] == "<|end|>" and "<|endoftext|>" in tokens
