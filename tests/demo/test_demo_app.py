"""The demo's event handlers (without a browser), its model loader, and the Gradio page they are wired into."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

from addressvlm.demo import DemoCity, ModelLoader
from addressvlm.demo.app import DemoHandlers


@pytest.fixture
def handlers(answerer, demo_city, fake_retriever):
    return DemoHandlers(ModelLoader(answerer=answerer), DemoCity.load(demo_city, n_examples=3), fake_retriever)


def test_a_photo_gets_the_standard_answers_the_map_and_its_neighbours(handlers, answerer, photos):
    rows, picture, gallery, line = handlers.standard(str(photos[0]))
    expected = answerer.ask([photos[0]])[0]
    assert rows == [
        ["district", expected["district"].answer],
        ["street", expected["street"].answer],
        ["street + district", expected["street_district"].answer],
    ]
    assert picture.mode == "RGB" and picture.size[0] > 200
    assert line.startswith("3 answers in ") and "s per question" in line and "on the map:" in line
    assert len(gallery) == 4
    captions = [caption for _, caption in gallery]
    first = handlers.retriever.search(Image.open(photos[0]).convert("RGB"), 4)[0]
    assert captions[0] == f"{first.street}, {first.district} ({first.score:.2f})"
    assert handlers.standard(None) == ([], None, [], "")


def test_an_example_shows_its_true_address(handlers):
    example = handlers.city.examples[0]
    _, _, _, line = handlers.standard(example["image"])
    assert f"true address of this example: {example['street']}, {example['district']}" in line


def test_checks_and_free_questions_show_the_parsed_and_the_raw_answer(handlers, answerer, photos):
    streets = handlers.city.streets
    raw = answerer.check_yes_no(photos[1], "street", streets[0]).answer
    shown = handlers.yes_no(str(photos[1]), "street", streets[0])
    assert repr(raw) in shown and shown.startswith("**")
    choice = handlers.choice(str(photos[1]), "street", *streets[:4])
    assert choice.startswith("**") and "the model said" in choice
    assert handlers.question(str(photos[1]), "Which street is this?").startswith(
        answerer.ask([photos[1]], ["Which street is this?"])[0]["question"].answer
    )
    with pytest.raises(ValueError, match="drop a street-view photo first"):
        handlers.yes_no(None, "street", streets[0])
    with pytest.raises(ValueError, match="needs 4 street options, got 2"):
        handlers.choice(str(photos[1]), "street", streets[0], streets[1], "", None)


def test_the_loader_loads_once_and_reports_progress(tiny_checkpoint):
    loader = ModelLoader(tiny_checkpoint, device="cpu", dtype="float32")
    seen = []
    follower = threading.Thread(target=loader.follow, args=(lambda fraction, stage: seen.append((fraction, stage)),))
    follower.start()
    answerer = loader.wait(timeout=300)
    follower.join(timeout=60)
    assert loader.wait() is answerer and loader.error is None and loader.seconds > 0
    assert seen[-1] == (1.0, "model ready")
    assert [fraction for fraction, _ in seen] == sorted(fraction for fraction, _ in seen)
    status = DemoHandlers(loader).status(lambda fraction, desc: None)
    assert status.startswith(f"Model **{loader.name}** ready in ")


def test_a_model_that_fails_to_load_says_why_on_the_page(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    loader = ModelLoader(tmp_path)
    with pytest.raises(Exception, match="model_type|bert"):
        loader.wait(timeout=300)
    assert DemoHandlers(loader).status().startswith("**Loading the model failed:**")


def test_the_page_wires_every_control(answerer, demo_city, fake_retriever):
    pytest.importorskip("gradio")
    from addressvlm.demo import build_demo

    demo = build_demo(ModelLoader(answerer=answerer), DemoCity.load(demo_city, n_examples=3), fake_retriever)
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"photo", "answers", "map", "neighbours", "status", "yes-button", "mc-button", "ask-button"} <= ids
    fns = {getattr(dep.fn, "__name__", "") for dep in demo.fns.values()}
    assert {"standard", "yes_no", "choice", "question", "show_status"} <= fns


def test_the_space_entry_point_builds_the_page(monkeypatch, tiny_checkpoint, demo_city):
    pytest.importorskip("gradio")
    import runpy
    from pathlib import Path

    monkeypatch.setenv("ADDRESSVLM_MODEL", tiny_checkpoint)
    monkeypatch.setenv("ADDRESSVLM_CITY", str(demo_city))
    space = runpy.run_path(str(Path(__file__).resolve().parents[2] / "demo" / "app.py"))  # not __main__: no launch
    assert space["city"].name == "Helsinki" and space["city"].examples
    assert space["loader"].wait(timeout=300).name == Path(tiny_checkpoint).name
    assert "answers" in {getattr(block, "elem_id", None) for block in space["demo"].blocks.values()}
