"""Prompt templates as editable files."""

from __future__ import annotations

import pytest

from addressvlm.labels.pipeline import ALIGNMENT, GEOREASONER
from addressvlm.labels.templates import PromptTemplate, default_template_path, load_task_templates
from addressvlm.labels.validation import LabelValidator


FIELDS = {"street": "Forbes Ave", "district": "Downtown", "answer": "Forbes Ave, Downtown", "city": "Pittsburgh"}


def test_alignment_prompt_carries_the_hint_and_the_question_does_not():
    templates = load_task_templates("alignment")
    prompt = templates.prompt.render(**FIELDS)
    question = templates.question.render(**FIELDS)
    assert "Forbes Ave" in prompt and "Downtown" in prompt and "top-right corner" in prompt
    assert "Forbes Ave" not in question and "Downtown" not in question and "Pittsburgh" in question
    assert not prompt.startswith("#") and "Placeholders" not in prompt  # comments are dropped
    assert (
        templates.target.render(answer="Forbes Ave, Downtown", reason="Because.") == "Forbes Ave, Downtown. Because."
    )


def test_georeasoner_prompt_is_district_level():
    templates = load_task_templates("georeasoner")
    prompt = templates.prompt.render(**FIELDS)
    assert "Downtown" in prompt and "Forbes Ave" not in prompt and "satellite" not in prompt
    assert "Downtown" not in templates.question.render(**FIELDS)


@pytest.mark.parametrize("task", [ALIGNMENT, GEOREASONER])
def test_packaged_fallbacks_pass_their_own_validation(task):
    templates = load_task_templates(task.name)
    validator = LabelValidator(
        {"street": ["Forbes Ave", "Penn Ave"], "district": ["Downtown", "Oakland"]},
        answer_kind=task.answer_kind,
        required_kinds=task.required_kinds,
    )
    fallback = templates.fallback.render(**FIELDS)
    assert validator.validate(fallback, task.reference(FIELDS)).ok, fallback


def test_user_files_replace_the_defaults(tmp_path):
    own = tmp_path / "prompt.txt"
    own.write_text("# my comment\nWhy is this {street} ({district})? Use {{braces}}.\n", encoding="utf-8")
    templates = load_task_templates("alignment", prompt=own)
    assert templates.prompt.render(**FIELDS) == "Why is this Forbes Ave (Downtown)? Use {braces}."
    assert templates.prompt.source == str(own)
    assert templates.question.source == str(default_template_path("alignment", "question"))


def test_unknown_placeholder_names_the_file(tmp_path):
    bad = tmp_path / "bad_question.txt"
    bad.write_text("Where is {street}?", encoding="utf-8")  # the question must not carry the hint
    with pytest.raises(ValueError, match=r"bad_question\.txt.*\['street'\]"):
        load_task_templates("alignment", question=bad)


def test_target_must_contain_the_reason(tmp_path):
    bad = tmp_path / "target.txt"
    bad.write_text("{answer}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"target\.txt.*\{reason\}"):
        load_task_templates("alignment", target=bad)


def test_missing_and_empty_files_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_task_templates("alignment", fallback=tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty.txt.*empty"):
        PromptTemplate.from_file(empty, "prompt")
