"""``addressvlm ask`` (tables, --json, --question, errors) and ``addressvlm demo``'s up-front checks."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict

import pytest
from PIL import Image

from addressvlm.cli import main
from addressvlm.demo import STANDARD_QUESTIONS
from addressvlm.demo.cli import printable


def _ask(capsys, *argv):
    code = main(["ask", *map(str, argv), "--device", "cpu", "--max-new-tokens", "12"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ask_prints_a_table_per_image(capsys, tiny_checkpoint, photos, answerer):
    code, out, _ = _ask(capsys, tiny_checkpoint, *photos)
    assert code == 0
    expected = answerer.ask(photos)
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 4  # three tables and the timing line
    for path, block, answers in zip(photos, blocks, expected):
        lines = block.splitlines()
        assert lines[0] == str(path)
        assert lines[1].split() == ["question", "answer"]
        labels = ["district", "street", "street + district"]
        for line, label, answer in zip(lines[3:], labels, answers.values()):
            assert line.startswith(f"  {label}") and line.endswith(printable(answer.answer))
        assert len(lines) == 6
    assert blocks[-1].startswith("3 image(s) x 3 question(s) in ") and "s per question" in blocks[-1]


def test_ask_json_parses_and_holds_every_answer(capsys, tiny_checkpoint, photos, answerer):
    code, out, _ = _ask(capsys, tiny_checkpoint, *photos, "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["model"] == tiny_checkpoint.rstrip("/").rsplit("/", 1)[-1]
    assert [entry["image"] for entry in payload["images"]] == [str(p) for p in photos]
    for entry, answers in zip(payload["images"], answerer.ask(photos)):
        assert [a["key"] for a in entry["answers"]] == list(STANDARD_QUESTIONS)
        assert [a["answer"] for a in entry["answers"]] == [a.answer for a in answers.values()]
        assert [a["question"] for a in entry["answers"]] == list(STANDARD_QUESTIONS.values())


def test_ask_answers_the_given_question(capsys, tiny_checkpoint, photos, answerer):
    code, out, _ = _ask(capsys, tiny_checkpoint, photos[0], "--question", "Which street is this?", "--json")
    assert code == 0
    (entry,) = json.loads(out)["images"]
    assert [(a["key"], a["question"]) for a in entry["answers"]] == [("question", "Which street is this?")]
    assert entry["answers"][0]["answer"] == answerer.ask([photos[0]], ["Which street is this?"])[0]["question"].answer


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing image", "error: Image file not found: {tmp}/missing.jpg"),
        ("corrupt image", "error: Cannot decode image file {tmp}/corrupt.jpg"),
        ("unknown model", "error: MODEL {tmp}/no-model: no such folder"),
        ("not a model", "error: MODEL {tmp}: no config.json or adapter_config.json in it"),
        ("rag", "error: --rag {tmp}/index: retrieval indexes are not available yet"),
    ],
)
def test_ask_fails_with_one_line_naming_the_input(
    capsys, tmp_path, tiny_checkpoint, photos, case, message, no_retrieval
):
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    model, images, extra = tiny_checkpoint, [photos[0]], []
    if case == "missing image":
        images.append(tmp_path / "missing.jpg")
    elif case == "corrupt image":
        images.append(tmp_path / "corrupt.jpg")
    elif case == "unknown model":
        model = tmp_path / "no-model"
    elif case == "not a model":
        model = tmp_path
    else:
        extra = ["--rag", tmp_path / "index"]
    code, out, err = _ask(capsys, model, *images, *extra)
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp_path))


def test_demo_checks_its_inputs_before_serving(capsys, tmp_path, tiny_checkpoint, no_retrieval):
    pytest.importorskip("gradio")
    assert main(["demo", str(tmp_path / "no-model")]) == 2
    assert "error: MODEL " in capsys.readouterr().err
    assert main(["demo", tiny_checkpoint, "--city", str(tmp_path / "nowhere")]) == 2
    assert "error: --city " in capsys.readouterr().err
    assert main(["demo", tiny_checkpoint, "--rag", str(tmp_path)]) == 2
    assert "retrieval indexes are not available yet" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", tiny_checkpoint, "--port", str(port)]) == 2
    assert f"error: --port {port}: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_ask_rag_lists_the_similar_street_views(capsys, tiny_checkpoint, photos, demo_city, retrieval_module):
    from addressvlm.demo.retrieval import load_retriever, neighbour_caption

    code, out, _ = _ask(capsys, tiny_checkpoint, *photos[:2], "--rag", demo_city)
    assert code == 0
    retriever = load_retriever(demo_city)
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 3
    for path, block in zip(photos[:2], blocks):
        lines = block.splitlines()
        assert lines[6] == "  similar street views:"
        expected = retriever.search(Image.open(path).convert("RGB"), 4)
        assert lines[7:] == [f"    {neighbour_caption(n)}  {n.image}" for n in expected]
    code, out, _ = _ask(capsys, tiny_checkpoint, photos[0], "--rag", demo_city, "--json")
    (entry,) = json.loads(out)["images"]
    expected = retriever.search(Image.open(photos[0]).convert("RGB"), 4)
    assert entry["neighbours"] == [asdict(n) for n in expected]
    assert main(["ask", tiny_checkpoint, str(photos[0]), "--rag", str(demo_city / "missing")]) == 2
    assert "--rag: retrieval index" in capsys.readouterr().err


def test_the_quickstart_readme_commands_parse():
    import shlex

    from addressvlm.cli import build_parser
    from addressvlm.quickstart import _README

    commands = [shlex.split(line, comments=True) for line in _README.splitlines() if line.strip().startswith("addr")]
    assert [argv[:2] for argv in commands] == [["addressvlm", "ask"], ["addressvlm", "demo"]]
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv[1:])
        assert args.model == "runs/addressvlm"
    assert parser.parse_args(commands[1][1:]).city == "data/vqa"


def test_tables_keep_answers_on_one_line():
    assert printable("Fabian\rinkatu\n, Kluuvi\t") == "Fabian inkatu , Kluuvi "


def test_help_lists_ask_and_demo(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "ask" in out and "demo" in out
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    assert "--question" in capsys.readouterr().out
