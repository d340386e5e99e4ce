"""LlavaPhi3ForConditionalGeneration: input checks, loss, save/load, Auto classes, generation."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForImageTextToText, AutoProcessor

import addressvlm.models  # noqa: F401  (registers the Auto classes)
from addressvlm.inference import generate_answers
from addressvlm.models import load_pretrained
from addressvlm.models.llava_phi3 import LlavaPhi3ForConditionalGeneration, LlavaPhi3Processor


def _prompt_inputs(processor, images, questions):
    return processor(
        images=images,
        text=[processor.build_prompt(q) for q in questions],
        padding=True,
        padding_side="left",
        return_tensors="pt",
        add_special_tokens=False,
    )


def test_pixels_without_image_token_are_rejected(tiny_llava, make_image):
    model, processor = tiny_llava
    pixels = processor.image_processor([make_image(0)], return_tensors="pt")["pixel_values"]
    ids = processor.tokenizer("<|user|>\nno image<|end|>", return_tensors="pt")["input_ids"]
    with pytest.raises(ValueError, match="no <image> token"):
        model(input_ids=ids, pixel_values=pixels)


def test_more_image_tokens_than_images_is_rejected(tiny_llava, make_image):
    model, processor = tiny_llava
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Q"}]}]
    )
    inputs = processor(images=[make_image(0), make_image(1)], text=[text], return_tensors="pt")
    with pytest.raises(ValueError, match="2 expanded <image> placeholders .* only 1 image"):
        model(input_ids=inputs["input_ids"], pixel_values=inputs["pixel_values"][:1])
    with pytest.raises(ValueError, match="only 0 image"):
        model(input_ids=inputs["input_ids"])


def test_count_mismatch_states_both_counts(tiny_llava, make_image):
    model, processor = tiny_llava
    inputs = _prompt_inputs(processor, [make_image(0)], ["Q"])
    ids = inputs["input_ids"].clone()
    ids[0, (ids[0] == processor.image_token_id).nonzero()[0]] = processor.tokenizer.pad_token_id
    with pytest.raises(ValueError, match="15 <image> tokens but 1 image.* give 16 features"):
        model(input_ids=ids, pixel_values=inputs["pixel_values"])


def test_tokenizer_larger_than_vocabulary_is_rejected(tiny_checkpoint, tmp_path):
    import shutil

    from transformers import AutoTokenizer

    path = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    vocab = LlavaPhi3ForConditionalGeneration.config_class.from_pretrained(path).text_config.vocab_size
    tokenizer.add_tokens([f"<extra_{i}>" for i in range(vocab - len(tokenizer) + 1)])
    tokenizer.save_pretrained(path)
    with pytest.raises(ValueError, match=rf"has {vocab + 1} tokens but the model's vocabulary has {vocab} rows"):
        load_pretrained(path)


def test_loss_ignores_masked_labels_and_honours_num_items_in_batch(tiny_llava, make_image):
    model, processor = tiny_llava
    example = processor.build_training_example(
        [{"from": "human", "value": "<image>\nWhich street?"}, {"from": "gpt", "value": "Kaivokatu"}], make_image(3)
    )
    ids, labels = example["input_ids"][None], example["labels"][None]
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=example["pixel_values"][None], labels=labels)
        logits = out.logits[0, :-1]
        target = labels[0, 1:]
        keep = target != -100
        manual_sum = F.cross_entropy(logits[keep].float(), target[keep], reduction="sum")
        assert torch.allclose(out.loss, manual_sum / keep.sum(), atol=1e-5)
        summed = model(
            input_ids=ids, pixel_values=example["pixel_values"][None], labels=labels, num_items_in_batch=10
        ).loss
    assert torch.allclose(summed, manual_sum / 10, atol=1e-5)


def test_save_load_round_trip_via_auto_classes(tiny_llava, tmp_path, make_image):
    model, processor = tiny_llava
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, LlavaPhi3ForConditionalGeneration)
    assert isinstance(loaded_processor, LlavaPhi3Processor)
    assert loaded.config._attn_implementation == "sdpa"
    assert loaded_processor.max_text_length == processor.max_text_length
    assert loaded_processor.chat_template == processor.chat_template
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    inputs = _prompt_inputs(processor, [make_image(0)], ["Which street?"])
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, loaded(**inputs).logits)


def test_generate_encodes_the_image_once_and_uses_the_cache(tiny_llava, make_image):
    model, processor = tiny_llava
    inputs = _prompt_inputs(processor, [make_image(0)], ["Which street?"])
    calls = []
    handle = model.model.vision_tower.register_forward_hook(lambda *args: calls.append(1))
    try:
        kwargs = dict(
            max_new_tokens=6, min_new_tokens=6, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id
        )
        cached = model.generate(**inputs, use_cache=True, **kwargs)
        assert len(calls) == 1  # pixels reach the vision tower only at the first step
        uncached = model.generate(**inputs, use_cache=False, **kwargs)
    finally:
        handle.remove()
    assert torch.equal(cached, uncached)


def test_batched_left_padded_generation_equals_one_by_one(tiny_llava, make_image):
    model, processor = tiny_llava
    images = [make_image(i, width=60 + 20 * i) for i in range(4)]
    questions = [
        "Which street?",
        "Tell me the district where this image was captured.",
        "Is this image taken in Kluuvi, Yes or No?",
        "Which of the following street correctly represents the location shown in the image? (A) x (B) y",
    ]
    single = [generate_answers(model, processor, [im], [q], max_new_tokens=8)[0] for im, q in zip(images, questions)]
    batched = generate_answers(model, processor, images, questions, max_new_tokens=8, batch_size=4)
    assert batched == single
    assert len(set(single)) > 1  # the answers differ, so equality is informative
