"""`AddressAnswerer` and the demo's questions: wording, batching, parsing with the metric, clear errors."""

from __future__ import annotations

import pytest
from PIL import Image

from addressvlm.data.templates import FIG10_PROMPTS
from addressvlm.demo import STANDARD_QUESTIONS, AddressAnswerer, check_model, load_images
from addressvlm.demo.questions import judgement_question, multiple_choice_question


def test_standard_questions_are_the_evaluation_prompts():
    assert list(STANDARD_QUESTIONS) == ["district", "street", "street_district"]
    assert STANDARD_QUESTIONS == FIG10_PROMPTS


def test_checks_are_worded_as_the_vqa_builder_words_them():
    assert judgement_question("street", " Fabianinkatu ") == (
        "Identify the street in this image, please. Is this image taken on Fabianinkatu, Yes or No?"
    )
    assert judgement_question("district", "Kluuvi").endswith("Is this image taken in Kluuvi, Yes or No?")
    question = multiple_choice_question("district", ["Kluuvi", "Keskusta", "Kaisaniemi", "Siltasaari"])
    assert question.startswith("Tell me the district where this image was captured. Which of the following district")
    assert "(A) Kluuvi (B) Keskusta (C) Kaisaniemi (D) Siltasaari." in question
    with pytest.raises(ValueError, match="needs 4 street options, got 3"):
        multiple_choice_question("street", ["a", "b", "", "c"])
    with pytest.raises(ValueError, match="needs a street name"):
        judgement_question("street", "  ")
    with pytest.raises(ValueError, match="level must be one of"):
        judgement_question("city", "Helsinki")


def test_ask_batches_every_image_and_gives_the_answers_of_single_runs(answerer, photos):
    from addressvlm.inference import generate_answers

    results = answerer.ask(photos)
    assert len(results) == 3
    for path, answers in zip(photos, results):
        assert list(answers) == list(STANDARD_QUESTIONS)
        image = Image.open(path).convert("RGB")
        questions = list(STANDARD_QUESTIONS.values())
        alone = generate_answers(
            answerer.model, answerer.processor, [image] * 3, questions, max_new_tokens=answerer.max_new_tokens,
            batch_size=1,
        )  # fmt: skip
        assert [answer.answer for answer in answers.values()] == alone
        assert all(answer.question == STANDARD_QUESTIONS[key] for key, answer in answers.items())
        assert all(answer.seconds > 0 for answer in answers.values())


def test_ask_free_questions(answerer, photos):
    results = answerer.ask(photos[:2], ["Which street is this?", "Which district?"])
    assert [list(answers) for answers in results] == [["question", "question 2"]] * 2
    assert results[0]["question 2"].question == "Which district?"
    with pytest.raises(ValueError, match="a question is empty"):
        answerer.ask(photos[:1], [" "])


class _Scripted(AddressAnswerer):
    """An answerer whose model says a fixed text: the checks must read it as the metric does."""

    def __init__(self, text):
        super().__init__(model=None, processor=None, name="scripted")
        self.text = text

    def _answer(self, images, questions):
        return [self.text] * len(questions), 0.01


@pytest.mark.parametrize(
    ("text", "parsed"), [("Yes.", "yes"), ("The answer is no", "no"), ("Yes or no", None), ("Maybe", None)]
)
def test_yes_no_check_reads_the_answer_like_the_metric(photos, text, parsed):
    answer = _Scripted(text).check_yes_no(photos[0], "street", "Fabianinkatu")
    assert (answer.key, answer.answer, answer.parsed) == ("judgement", text, parsed)
    assert "Is this image taken on Fabianinkatu, Yes or No?" in answer.question


@pytest.mark.parametrize(
    ("text", "letter"), [("B", "B"), ("(C) Kaisaniemi", "C"), ("Keskusta", "B"), ("A or B", None), ("E", None)]
)
def test_multiple_choice_check_reads_the_letter_like_the_metric(photos, text, letter):
    answer = _Scripted(text).choose(photos[0], "district", ["Kluuvi", "Keskusta", "Kaisaniemi", "Siltasaari"])
    assert (answer.key, answer.parsed) == ("multiple_choice", letter)


def test_images_are_checked_with_errors_that_name_the_file(tmp_path, photos):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        load_images([photos[0], tmp_path / "missing.jpg"])
    with pytest.raises(ValueError, match="Cannot decode image file .*broken.jpg"):
        load_images([broken])
    with pytest.raises(IsADirectoryError, match="is a folder, not an image file"):
        load_images([tmp_path])
    assert [image.mode for image in load_images([photos[0], Image.new("L", (8, 8))])] == ["RGB", "RGB"]


def test_check_model_names_a_folder_that_is_no_checkpoint(tmp_path, tiny_checkpoint):
    check_model(tiny_checkpoint)
    with pytest.raises(FileNotFoundError, match="no config.json or adapter_config.json"):
        check_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="MODEL .*nowhere: no such folder"):
        check_model(tmp_path / "nowhere")
    (tmp_path / "file.bin").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="--adapter .*file.bin is a file"):
        check_model(tiny_checkpoint, tmp_path / "file.bin")


@pytest.fixture(scope="module")
def other_layouts(tmp_path_factory, tiny_checkpoint):
    """The tiny model in the stock ``llava-phi-3-mini-hf`` layout, and a LoRA adapter folder over our checkpoint."""
    from peft import LoraConfig, get_peft_model

    from addressvlm.models import load_pretrained
    from addressvlm.testing import save_tiny

    root = tmp_path_factory.mktemp("layouts")
    stock = save_tiny(root / "stock", layout="llava-hf", image_size=56)
    minicpmv = save_tiny(root / "minicpmv", backbone="minicpmv", image_size=56)
    base, _ = load_pretrained(tiny_checkpoint)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["qkv_proj", "o_proj"], init_lora_weights=False))
    lora.save_pretrained(root / "adapter")
    return {"stock layout": stock, "adapter folder": str(root / "adapter"), "minicpmv": minicpmv}


@pytest.mark.parametrize("layout", ["stock layout", "adapter folder", "minicpmv"])
def test_any_folder_the_loaders_accept_answers(other_layouts, photos, layout):
    loaded = AddressAnswerer.from_pretrained(other_layouts[layout], device="cpu", dtype="float32", max_new_tokens=8)
    results = loaded.ask(photos[:2])
    assert [list(answers) for answers in results] == [list(STANDARD_QUESTIONS)] * 2
    assert all(isinstance(answer.answer, str) for answers in results for answer in answers.values())
    if layout == "adapter folder":  # its base is read from adapter_config.json
        from peft import PeftModel

        assert isinstance(loaded.model, PeftModel)
