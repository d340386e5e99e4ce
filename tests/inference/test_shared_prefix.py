"""SharedPrefixAnswerer: batched answers with one prefix per image equal plain one-question-at-a-time generate."""

import pytest
import torch

from addressvlm.inference import SharedPrefixAnswerer, generate_answers
from addressvlm.inference.shared_prefix import common_prefix_length, plan_batches


QUESTIONS = [
    "A",
    "Which street is this?",
    "Tell me the district where this image was captured. Answer the question using a single word or phrase.",
    "Is this image taken on Forbes Avenue, Yes or No?",
    "Which of the following street correctly represents the location shown in the image? (A) Forbes Avenue "
    "(B) Liberty Avenue (C) Market Street (D) Kaivokatu Please select the correct option (A/B/C/D).",
]


def _answers(answerer, images, image_index, questions, batch_size, **kwargs):
    out = []
    for batch in answerer.iter_batches(images, image_index, questions, batch_size=batch_size, **kwargs):
        assert batch.stop - batch.start <= batch_size
        out.extend(batch.answers)
    return out


def test_plan_and_common_prefix():
    assert plan_batches(7, 3) == [range(0, 3), range(3, 6), range(6, 7)]
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_length([[5], [6]]) == 0
    with pytest.raises(ValueError, match="batch_size"):
        plan_batches(3, 0)


def test_prompt_ids_match_the_processor(tiny_llava, make_image):
    model, processor = tiny_llava
    answerer = SharedPrefixAnswerer(model, processor)
    for question in QUESTIONS:
        inputs = processor(images=[make_image(0)], text=[processor.build_prompt(question)], add_special_tokens=False)
        assert answerer.prompt_ids([question])[0] == list(inputs["input_ids"][0])
    # The cached prefix ends after the image block and the text around it, before any question token.
    assert answerer.prefix_length > processor.num_image_tokens


@pytest.fixture(scope="module")
def one_by_one(tiny_llava):
    """4 images of different sizes x the questions, answered by one plain `generate` call per question."""
    import numpy as np
    from PIL import Image

    model, processor = tiny_llava
    images = [
        Image.fromarray(np.random.RandomState(seed).randint(0, 256, (60, 60 + 10 * seed, 3), dtype=np.uint8))
        for seed in range(4)
    ]
    image_index = [i for i in range(len(images)) for _ in QUESTIONS]
    questions = QUESTIONS * len(images)
    reference = generate_answers(
        model, processor, [images[i] for i in image_index], questions, batch_size=1, max_new_tokens=10
    )
    return images, image_index, questions, reference


@pytest.mark.parametrize("batch_size", [4, 7, 45])
def test_batched_answers_equal_one_by_one_generate(tiny_llava, one_by_one, batch_size):
    """Greedy: several images x questions of different lengths, batches that cut through images."""
    model, processor = tiny_llava
    images, image_index, questions, reference = one_by_one
    assert len(set(reference)) > 5  # the tiny model's answers differ per question: a real comparison
    answerer = SharedPrefixAnswerer(model, processor, max_new_tokens=10)
    assert _answers(answerer, images, image_index, questions, batch_size) == reference


def test_each_image_is_encoded_once(tiny_llava, make_image, monkeypatch):
    model, processor = tiny_llava
    answerer = SharedPrefixAnswerer(model, processor, max_new_tokens=2)
    calls = []
    original = answerer.encode_prefix
    monkeypatch.setattr(answerer, "encode_prefix", lambda image: calls.append(1) or original(image))
    images = [make_image(seed) for seed in range(3)]
    image_index = [i for i in range(3) for _ in QUESTIONS]
    _answers(answerer, images, image_index, QUESTIONS * 3, batch_size=4)  # batches straddle images
    assert len(calls) == 3


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(tiny_llava, make_image):
    model, processor = tiny_llava
    answerer = SharedPrefixAnswerer(model, processor, max_new_tokens=6, temperature=0.8)
    images, index, questions = [make_image(0)], [0] * 12, ["Which street is this?"] * 12
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = _answers(answerer, images, index, questions, batch_size=5, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert _answers(answerer, images, index, questions, batch_size=5, seed=7) == first
    assert len(set(first)) > 1  # samples differ within a batch
    assert _answers(answerer, images, index, questions, batch_size=5, seed=8) != first


def test_unreadable_image_fails_only_its_questions(tiny_llava, make_image, tmp_path):
    model, processor = tiny_llava
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    images = [make_image(0), str(broken), str(tmp_path / "missing.png")]
    index = [0, 0, 1, 1, 2]
    batches = list(SharedPrefixAnswerer(model, processor, max_new_tokens=3).iter_batches(images, index, ["Q"] * 5, 8))
    answers, errors = batches[0].answers, batches[0].errors
    assert all(isinstance(a, str) for a in answers[:2]) and answers[2:] == [None, None, None]
    assert "Cannot decode image file" in errors[2] and "not found" in errors[4]


def test_peft_model(tiny_llava, make_image):
    """A LoRA-wrapped model (random B, so the adapter changes outputs) goes through the same path."""
    from peft import LoraConfig, get_peft_model

    model, processor = tiny_llava
    lora = LoraConfig(r=4, target_modules=["qkv_proj", "o_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, lora).eval()
    try:
        images = [make_image(1), make_image(2)]
        index = [0, 0, 1, 1]
        questions = QUESTIONS[1:3] * 2
        reference = generate_answers(
            peft_model, processor, [images[i] for i in index], questions, batch_size=1, max_new_tokens=8
        )
        answerer = SharedPrefixAnswerer(peft_model, processor, max_new_tokens=8)
        assert _answers(answerer, images, index, questions, batch_size=4) == reference
    finally:
        peft_model.unload()  # the session fixture must stay a plain model


def test_sliding_window_longer_than_the_prompt_and_shorter_one(tiny_llava, make_image):
    """Phi-3-mini has a 2047-token sliding window: fine; a window shorter than the prompt is refused."""
    model, processor = tiny_llava
    configs = [model.config.text_config, model.model.language_model.config]
    try:
        for config in configs:
            config.sliding_window = 2047
        images, index, questions = [make_image(3)], [0, 0], QUESTIONS[1:3]
        reference = generate_answers(model, processor, [images[0]] * 2, questions, batch_size=1, max_new_tokens=6)
        answerer = SharedPrefixAnswerer(model, processor, max_new_tokens=6)
        assert _answers(answerer, images, index, questions, batch_size=2) == reference
        for config in configs:
            config.sliding_window = 16
        with pytest.raises(ValueError, match="sliding attention window \\(16 tokens\\) is shorter"):
            _answers(SharedPrefixAnswerer(model, processor, max_new_tokens=6), images, index, questions, 2)
    finally:
        for config in configs:
            config.sliding_window = None
