"""`label-alignment` / `label-georeasoner` end to end on small datasets written in the test."""

from __future__ import annotations

import json

import pytest

from addressvlm.labels.cli import main
from addressvlm.labels.pipeline import default_cache_path, label_dataset
from addressvlm.labels.runner import GenerationSettings


def _load(path):
    from addressvlm.data.storage import load_address_dataset

    return load_address_dataset(path)


def test_fallback_only_writes_a_complete_stage1_set(tmp_path, labels_kit):
    source = labels_kit.make_stage1_dataset(tmp_path, n=6, validation=2)
    out = tmp_path / "labelled"
    assert main(["label-alignment", str(source), "-o", str(out), "--fallback-only", "--no-progress"]) == 0

    labelled = _load(out)
    assert {split: len(ds) for split, ds in labelled.items()} == {"train": 4, "validation": 2}
    for row in labelled["train"]:
        assert row["label_source"] == "template"
        assert row["street"] in row["reason"] and row["district"] in row["reason"]
        assert row["conversations"] == [
            {"from": "human", "value": row["question"]},
            {"from": "gpt", "value": f"{row['street']}, {row['district']}. {row['reason']}"},
        ]
    info = json.loads((out / "build_info.json").read_text())
    assert info["labels"]["task"] == "alignment" and info["labels"]["label_format"] == "{answer}. {reason}"
    assert info["labels"]["counts"]["template_only"] == 6 and info["path_columns"][0] == "image"
    report = json.loads((out / "label_report.json").read_text())
    assert (report["total"], report["template_only"], report["failed"]) == (6, 6, 0)
    assert _load(source)["train"][0]["label_source"] == ""  # the input is untouched
    assert labelled["train"][0]["image"] == _load(source)["train"][0]["image"]  # images still resolve

    assert main(["label-alignment", str(source), "-o", str(out), "--fallback-only", "--no-progress"]) == 2
    args = ["label-alignment", str(source), "-o", str(out), "--fallback-only", "--limit", "3", "--overwrite"]
    assert main([*args, "--no-progress"]) == 0
    assert {split: len(ds) for split, ds in _load(out).items()} == {"train": 3}


def test_labelled_alignment_rows_ask_for_the_reason_their_target_gives(tmp_path, labels_kit):
    """The paper's stage-1 training prompt is the labelling prompt without the hint: it asks why (review, A.3)."""
    from addressvlm.data.templates import ALIGNMENT_QUESTIONS

    source = labels_kit.make_stage1_dataset(tmp_path, n=4, validation=0)
    own = set(_load(source)["train"]["question"])
    assert own and not any("why" in question.lower() for question in own)  # answer-only row questions
    out = tmp_path / "labelled"
    assert main(["label-alignment", str(source), "-o", str(out), "--fallback-only", "--no-progress"]) == 0
    for row in _load(out)["train"]:
        assert row["question"] not in ALIGNMENT_QUESTIONS and row["question"] not in own
        assert row["question"].endswith("Explain why."), row["question"]
        assert "Hint" not in row["question"] and row["street"] not in row["question"]
        assert row["conversations"][0]["value"] == row["question"]
        assert row["conversations"][1]["value"].endswith(row["reason"])


def test_model_labels_are_cached_and_reused(tmp_path, labels_kit):
    source = labels_kit.make_stage1_dataset(tmp_path, n=5, validation=0)

    def script(request, index):  # row 2 never validates and falls back
        if "Kaivokatu" in request.prompt:
            return "No idea."
        return labels_kit.good_label(request.prompt)

    backend = labels_kit.ScriptedBackend(script, batch_size=2)
    out = tmp_path / "out"
    settings = GenerationSettings(label_retries=1)
    report = label_dataset("alignment", source, out, backend, settings=settings, progress=False)
    assert (report.model, report.fallen_back, report.retried, report.attempts) == (4, 1, 1, 6)
    rows = _load(out)["train"]
    assert [r["label_source"] for r in rows] == ["model", "model", "template", "model", "model"]
    assert rows[0]["reason"].startswith("The street view was taken on Aleksanterinkatu in Kluuvi")
    assert rows[0]["conversations"][1]["value"] == f"Aleksanterinkatu, Kluuvi. {rows[0]['reason']}"
    assert default_cache_path(out).is_file()

    again = labels_kit.ScriptedBackend(script, batch_size=2)
    report = label_dataset("alignment", source, out, again, settings=settings, overwrite=True, progress=False)
    assert again.calls == [] and report.from_cache == 5 and report.model == 4
    assert [r["reason"] for r in _load(out)["train"]] == [r["reason"] for r in rows]


def test_georeasoner_labels_over_http(tmp_path, labels_kit, chat_server):
    source = labels_kit.make_vqa_dataset(tmp_path, n=5)
    server = chat_server()
    out = tmp_path / "geo"
    args = ["label-georeasoner", str(source), "-o", str(out), "--backend", "http", "--base-url", server.url]
    assert main([*args, "--model", "m", "--concurrency", "2", "--no-progress"]) == 0

    assert len(server.hits) == 5  # training images only, one request each
    assert all("satellite" not in prompt and "district of Testville" in prompt for prompt in server.prompts())
    rows = _load(out)["train"]
    assert len(rows) == 5 and set(rows.column_names) >= {"street_view", "satellite", "reason", "conversations"}
    for row in rows:
        assert row["label_source"] == "model" and row["answer"] == row["district"]
        assert row["image"] == row["street_view"] and row["satellite"] == ""
        assert row["conversations"][0]["value"].startswith("According to the content of the image")
        assert row["conversations"][1]["value"].startswith(f"{row['district']}. The image was taken in")
    info = json.loads((out / "build_info.json").read_text())
    assert info["labels"]["backend"]["backend"] == "http" and info["labels"]["task"] == "georeasoner"


def test_question_file_replaces_the_rows_questions(tmp_path, labels_kit):
    source = labels_kit.make_stage1_dataset(tmp_path, n=2, validation=0)
    question = tmp_path / "q.txt"
    question.write_text("Where in {city} is the inset photo?\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["label-alignment", str(source), "-o", str(out), "--fallback-only", "--question-file", str(question)]
    assert main([*args, "--no-progress"]) == 0
    row = _load(out)["train"][0]
    assert row["question"] == "Where in Testville is the inset photo?"
    assert row["conversations"][0]["value"] == "Where in Testville is the inset photo?"


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--backend", "http", "--model", "m"], 2, "--base-url"),
        (["--backend", "local"], 2, "--model is required"),
        (["--fallback-only", "--splits", "nope"], 2, "no split"),
    ],
)
def test_option_errors(tmp_path, labels_kit, capsys, extra, code, message):
    source = labels_kit.make_stage1_dataset(tmp_path, n=2, validation=0)
    assert main(["label-alignment", str(source), "-o", str(tmp_path / "o"), "--no-progress", *extra]) == code
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last and "Traceback" not in err


def test_rejected_credentials_stop_the_run_without_output(
    tmp_path, labels_kit, chat_server, caplog, capsys, monkeypatch
):
    monkeypatch.setenv("LABELS_BAD_KEY", "sk-wrong")
    source = labels_kit.make_stage1_dataset(tmp_path, n=3, validation=0)
    reply = labels_kit.Reply(status=401, body=labels_kit.error_body("invalid key", "invalid_request_error"))
    server = chat_server(responder=lambda body, index: reply)
    out = tmp_path / "out"
    args = ["label-alignment", str(source), "-o", str(out), "--backend", "http", "--base-url", server.url]
    args += ["--model", "m", "--api-key-env", "LABELS_BAD_KEY", "--concurrency", "1", "--batch-size", "1"]
    assert main([*args, "--no-progress"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # one line, as every command reports a failure
    assert last.startswith("error: RuntimeError: labelling stopped: ") and "HTTP 401" in last
    assert "LABELS_BAD_KEY" in last and "sk-wrong" not in last + caplog.text
    assert len(server.hits) == 1  # no retry, no further items
    assert not out.exists()


def test_general_vqa_rows_pass_through_unlabelled(tmp_path, labels_kit):
    source = labels_kit.make_stage1_dataset(tmp_path, n=3, validation=0, general=2)
    backend = labels_kit.ScriptedBackend(lambda request, index: labels_kit.good_label(request.prompt))
    out = tmp_path / "out"
    report = label_dataset("alignment", source, out, backend, progress=False)
    assert report.total == 3 and report.model == 3 and report.skipped == {"general_vqa_rows": 2}
    assert len(backend.calls) == 3
    rows = _load(out)["train"]
    assert [r["id"] for r in rows] == ["s1-000", "general-1", "general-0", "s1-001", "s1-002"]
    general = [r for r in rows if r["id"].startswith("general")]
    assert all(r["label_source"] == "general" and r["reason"] == "" for r in general)
    assert general[0]["conversations"][1]["value"] == "A cat."
    assert json.loads((out / "label_report.json").read_text())["skipped"] == {"general_vqa_rows": 2}


def test_the_wrong_kind_of_dataset_is_refused(tmp_path, capsys):
    """A VQA set given to label-alignment (or a stage-1 set to label-georeasoner) would be labelled with the wrong
    question; ``build_info.json`` says what the folder is."""
    from datasets import Dataset, DatasetDict

    from addressvlm.data.storage import save_dataset_dict

    rows = Dataset.from_list([{"id": "a", "image": "x.png", "street": "S", "district": "D"}])
    for builder, command in (
        ("addressvlm.data.build_vqa", "label-alignment"),
        ("addressvlm.data.build_alignment_set", "label-georeasoner"),
    ):
        source = save_dataset_dict(DatasetDict({"train": rows}), tmp_path / builder, {"builder": builder}, tmp_path)
        assert main([command, str(source), "-o", str(tmp_path / "out"), "--fallback-only", "--no-progress"]) == 2
        assert "labelling needs a" in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_label_command_defaults_are_the_library_defaults():
    from addressvlm.labels.cli import register
    from addressvlm.labels.options import BackendOptions, GenerationSettings, LabelRunOptions, TemplateFiles
    from addressvlm.utils.options import OptionsParser, options_from

    root = OptionsParser(prog="t")
    register(root.add_subparsers(dest="command"))
    args = root.parse_args(["label-georeasoner", "vqa", "-o", "out", "--torch-dtype", "bfloat16", "--splits", "a,b"])
    for options in (GenerationSettings, TemplateFiles):
        assert options_from(args, options) == options()
    assert options_from(args, BackendOptions) == BackendOptions(dtype="bfloat16")
    assert options_from(args, LabelRunOptions) == LabelRunOptions(splits="a,b")
    with pytest.raises(ValueError, match="--extra-body must be a JSON object"):
        BackendOptions(model="m", backend="http", base_url="http://x", extra_body="[1]").build()
