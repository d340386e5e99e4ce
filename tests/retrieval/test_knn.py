"""The k-NN baseline: the vote per question type, and scoring with the address_accuracy metric."""

import json

import pytest

from addressvlm.cli import main
from addressvlm.data import load_address_dataset
from addressvlm.inference.metric import load_address_accuracy, metric_functions
from addressvlm.retrieval.knn import knn_answer, vote


STREETS = ["Kaivokatu", "Mikonkatu", "Kaivokatu", "Fabianinkatu", "Mikonkatu"]
DISTRICTS = ["Kluuvi", "Kluuvi", "Kluuvi", "Kaartinkaupunki", "Kluuvi"]


def _q(text, level, kind, options=()):
    return {"question": text, "level": level, "type": kind, "options": list(options)}


@pytest.fixture(scope="module")
def normalise():
    return metric_functions(load_address_accuracy()).normalize_address


def test_vote_counts_and_breaks_ties_by_rank():
    assert vote(["b", "a", "a", "b", "c"]) == [("b", 2), ("a", 2), ("c", 1)]
    assert vote(["Forbes Ave", "Forbes Avenue"], lambda s: s.replace("Avenue", "Ave")) == [("Forbes Ave", 2)]


def test_answers_per_question_type(normalise):
    answer = lambda q: knn_answer(q, STREETS, DISTRICTS, normalise)  # noqa: E731
    g = "Answer the question using a single word or phrase."
    assert answer(_q(f"Which district is depicted in the photo? {g}", "district", "generation")) == "Kluuvi"
    # Kaivokatu and Mikonkatu both have 2 votes: Kaivokatu ranks first
    assert answer(_q(f"What thoroughfare is depicted here? {g}", "street", "generation")) == "Kaivokatu"
    assert answer(_q("Which street and district is the image located?", "street_district", "generation")) == (
        "Kaivokatu, Kluuvi"
    )
    stem = "Can you tell me which road this is?"
    assert answer(_q(f"{stem} Is this image taken on KAIVOKATU, Yes or No?", "street", "judgement")) == "Yes"
    assert answer(_q(f"{stem} Is this image taken on Mikonkatu, Yes or No?", "street", "judgement")) == "No"
    assert answer(_q("Is this image taken in Kluuvi, Yes or No?", "district", "judgement")) == "Yes"
    options = ["Fabianinkatu", "Mikonkatu", "Kaivokatu", "Unioninkatu"]
    assert answer(_q("Which of the following street ...", "street", "multiple_choice", options)) == "C"
    assert answer(_q("...", "street", "multiple_choice", ["Unioninkatu", "Fabianinkatu", "A", "B"])) == "B"
    assert answer(_q("...", "street", "multiple_choice", ["P", "Q", "R", "S"])) == "A"  # nobody votes: A
    assert knn_answer(_q("...", "street", "generation"), [], [], normalise) == ""


def test_knn_row_is_scored_like_an_evaluation(city, train_index, tmp_path, capsys):
    _, vqa = city
    out = tmp_path / "knn"
    argv = ["index", "knn", str(train_index), "--dataset", str(vqa), "--output-dir", str(out), "--k", "3"]
    assert main([*argv, "--device", "cpu", "--no-progress"]) == 0
    assert "| k-NN retrieval (k=3) |" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    test = load_address_dataset(vqa)["test"]
    assert metrics["eval"]["n_images"] == len(test) and metrics["eval"]["n_questions"] == 9 * len(test)
    assert metrics["eval"]["rag"]["k"] == 3 and metrics["eval"]["decoding"] == "k-NN majority vote"
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 9 * len(test) and all(len(r["neighbours"]) == 3 for r in records)
    # the same answers scored again by the metric give the same numbers
    again = load_address_accuracy().compute(
        predictions=[r["prediction"] for r in records],
        references=[r["reference"] for r in records],
        levels=[r["level"] for r in records],
        question_types=[r["type"] for r in records],
        options=[r["options"] for r in records],
    )
    assert again["A"] == metrics["A"] and again["A_d_G"] == metrics["A_d_G"]
    # the images look like their district: the vote names it far above chance (25 %)
    assert metrics["A_d_G"] >= 75 and metrics["A_d_J"] >= 75
