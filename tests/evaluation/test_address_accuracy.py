"""Tests of the `address_accuracy` evaluate module (addressvlm/evaluation/address_accuracy, linked as
evaluation/address_accuracy in a checkout), loaded with `evaluate.load`."""

import ast
import doctest
import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest
import yaml

from addressvlm.evaluation import ADDRESS_ACCURACY_DIR as MODULE_DIR


REPO_ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("predictions", "references", "levels", "question_types", "options")
CELLS = ("A_d_G", "A_d_J", "A_d_M", "A_d", "A_s_G", "A_s_J", "A_s_M", "A_s", "A", "A_sd")
GEOREASONER_KEYS = ("recall", "accuracy_valid", "f1", "recall_sd", "accuracy_valid_sd", "f1_sd")
STREETS = ["Liberty Ave", "Forbes Ave", "Penn Ave", "Smithfield St"]


@pytest.fixture(scope="session")
def offline_evaluate(tmp_path_factory):
    """`evaluate`, offline, with its module and metric caches in a temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_EVALUATE_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        import evaluate

        mp.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
        # Evaluate imports loaded scripts as the package `evaluate_modules`; once imported it stays at its first
        # location, so the module cache can only move while that package has not been imported yet.
        if "evaluate_modules" not in sys.modules:
            mp.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path_factory.mktemp("hf_modules"))
        yield evaluate, tmp_path_factory.mktemp("metric_cache")


@pytest.fixture(scope="session")
def metric(offline_evaluate):
    """The metric, loaded once per session from the folder's absolute path."""
    evaluate, cache_dir = offline_evaluate
    return evaluate.load(str(MODULE_DIR), cache_dir=str(cache_dir))


@pytest.fixture
def fresh_metric(offline_evaluate, tmp_path):
    """A new instance with its own cache folder, for tests that make `compute` fail half-way (leaving a lock)."""
    evaluate, _ = offline_evaluate
    return evaluate.load(str(MODULE_DIR), cache_dir=str(tmp_path))


@pytest.fixture(scope="session")
def scoring(metric):
    """The loaded module itself, for its documented tables (`CANONICAL_WORDS`)."""
    return sys.modules[type(metric).__module__]


def compute(metric, rows, **kwargs):
    """Computes the metric on rows of `(prediction, reference, level, question_type, options)`."""
    columns = {name: [row[i] for row in rows] for i, name in enumerate(FEATURES)}
    return metric.compute(**columns, **kwargs)


def score_one(metric, prediction, reference, level, question_type, options=()):
    """`(correct, valid)` of a single question."""
    results = compute(metric, [(prediction, reference, level, question_type, list(options))], return_per_question=True)
    return results["correct"][0], results["valid"][0]


def q(prediction, reference, level="district", question_type="generation", options=()):
    return (prediction, reference, level, question_type, list(options))


# A hand-counted mix; per cell (questions, valid, correct):
#   A_d_G (2, 2, 1), A_d_J (4, 4, 4), A_d_M (2, 1, 1),
#   A_s_G (3, 2, 1), A_s_J (2, 1, 1), A_s_M (1, 1, 0), A_sd (2, 1, 1)
MIXED = [
    q("Oakland", "Oakland"),
    q("Downtown", "Oakland"),
    q("Yes", "Yes", question_type="judgement"),
    q("no.", "No", question_type="judgement"),
    q("YES, it is", "Yes", question_type="judgement"),
    q("No - it is in Oakland", "No", question_type="judgement"),
    q("(C) Strip District", "C", question_type="multiple_choice", options=["Downtown", "Oakland", "Strip District"]),
    q("maybe", "A", question_type="multiple_choice", options=["Downtown", "Oakland", "Strip District"]),
    q("Forbes Avenue", "Forbes Ave", level="street"),
    q("Penn Ave", "Forbes Ave", level="street"),
    q("", "Forbes Ave", level="street"),
    q("yes", "Yes", level="street", question_type="judgement"),
    q("I cannot tell", "No", level="street", question_type="judgement"),
    q("A", "D", level="street", question_type="multiple_choice", options=STREETS),
    q("Forbes Ave, Oakland", "Forbes Ave, Oakland", level="street_district"),
    q("Forbes Ave", "Forbes Ave, Oakland", level="street_district"),
]


def test_loads_by_relative_folder_path_like_the_runner(offline_evaluate, monkeypatch):
    evaluate, cache_dir = offline_evaluate
    monkeypatch.chdir(REPO_ROOT)
    module = evaluate.load("evaluation/address_accuracy", cache_dir=str(cache_dir))
    assert type(module).__name__ == "AddressAccuracy"
    assert tuple(module.features) == FEATURES
    assert module.name == "address_accuracy"


def test_output_keys_and_types(metric):
    results = compute(metric, MIXED)
    expected = {*CELLS, *(f"n_{c}" for c in CELLS), *(f"n_valid_{c}" for c in CELLS), *GEOREASONER_KEYS}
    assert set(results) == expected
    assert all(isinstance(results[f"n_{c}"], int) and isinstance(results[f"n_valid_{c}"], int) for c in CELLS)
    assert all(isinstance(results[c], float) for c in CELLS)


def test_hand_computed_cells_micro(metric):
    results = compute(metric, MIXED)
    expected = {
        "A_d_G": 50.0,
        "A_d_J": 100.0,
        "A_d_M": 50.0,
        "A_d": 100.0 * 6 / 8,
        "A_s_G": 100.0 / 3,
        "A_s_J": 50.0,
        "A_s_M": 0.0,
        "A_s": 100.0 * 2 / 6,
        "A": 100.0 * 8 / 14,
        "A_sd": 50.0,
    }
    counts = {"A_d_G": 2, "A_d_J": 4, "A_d_M": 2, "A_d": 8, "A_s_G": 3, "A_s_J": 2, "A_s_M": 1, "A_s": 6}
    counts.update({"A": 14, "A_sd": 2})
    valid = {"A_d_G": 2, "A_d_J": 4, "A_d_M": 1, "A_d": 7, "A_s_G": 2, "A_s_J": 1, "A_s_M": 1, "A_s": 4}
    valid.update({"A": 11, "A_sd": 1})
    for cell in CELLS:
        assert results[cell] == pytest.approx(expected[cell]), cell
        assert results[f"n_{cell}"] == counts[cell], cell
        assert results[f"n_valid_{cell}"] == valid[cell], cell


def test_macro_average_is_the_mean_of_the_type_accuracies(metric):
    micro = compute(metric, MIXED)
    macro = compute(metric, MIXED, average="macro")
    assert macro["A_d"] == pytest.approx((50 + 100 + 50) / 3)
    assert macro["A_s"] == pytest.approx((100 / 3 + 50 + 0) / 3)
    assert macro["A"] == pytest.approx((50 + 100 + 50 + 100 / 3 + 50 + 0) / 6)
    assert macro["A_d"] != pytest.approx(micro["A_d"])
    # Only the averages change: cells, counts and GeoReasoner's metrics do not.
    unchanged = [key for key in micro if key not in ("A_d", "A_s", "A")]
    assert {key: macro[key] for key in unchanged} == {key: micro[key] for key in unchanged}


def test_macro_skips_empty_type_cells(metric):
    rows = [
        q("Oakland", "Oakland"),
        q("No", "Yes", question_type="judgement"),
        q("Yes", "Yes", question_type="judgement"),
    ]
    results = compute(metric, rows, average="macro")
    assert results["A_d_M"] is None
    assert results["A_d"] == pytest.approx((100 + 50) / 2)
    assert results["A"] == pytest.approx((100 + 50) / 2)
    assert results["A_s"] is None


def _pitts_rows(n_g, correct_g, n_j, correct_j, n_m, correct_m):
    options = ["Downtown", "Oakland", "Strip District", "Shadyside"]
    rows = [q("Oakland" if i < correct_g else "Downtown", "Oakland") for i in range(n_g)]
    rows += [q("Yes" if i < correct_j else "No", "Yes", question_type="judgement") for i in range(n_j)]
    rows += [
        q("B" if i < correct_m else "A", "B", question_type="multiple_choice", options=options) for i in range(n_m)
    ]
    return rows


def test_micro_average_reproduces_spec_worked_example(metric):
    """SPEC section 6: Pitts AddressVLM A_d^G 88.73, A_d^J 93.54, A_d^M 95.16, Ā_d 92.70 (judgement asked twice)."""
    n = 10_000
    results = compute(metric, _pitts_rows(n, 8873, 2 * n, 18708, n, 9516))
    assert (results["A_d_G"], results["A_d_J"], results["A_d_M"]) == pytest.approx((88.73, 93.54, 95.16))
    assert (results["n_A_d_G"], results["n_A_d_J"], results["n_A_d_M"]) == (n, 2 * n, n)
    # G:J:M = 1:2:1 gives (G + 2J + M) / 4 = 92.74, within 0.05 of the paper's 92.70 ...
    assert results["A_d"] == pytest.approx((88.73 + 2 * 93.54 + 95.16) / 4)
    assert round(results["A_d"], 2) == 92.74
    assert abs(results["A_d"] - 92.70) < 0.05
    # ... while the plain mean of the three type accuracies (92.48) is what `average="macro"` gives, and it is off.
    plain_mean = (88.73 + 93.54 + 95.16) / 3
    assert round(plain_mean, 2) == 92.48
    assert compute(metric, _pitts_rows(n, 8873, 2 * n, 18708, n, 9516), average="macro")["A_d"] == pytest.approx(
        plain_mean
    )
    assert abs(plain_mean - 92.70) > 4 * abs(results["A_d"] - 92.70)


def test_micro_average_hits_the_paper_number_with_plausible_counts(metric):
    """With 10428 generation, 20000 judgement and 10000 multiple-choice questions every cell rounds as in Table 2."""
    results = compute(metric, _pitts_rows(10428, 9253, 20000, 18708, 10000, 9516))
    assert [round(results[c], 2) for c in ("A_d_G", "A_d_J", "A_d_M", "A_d")] == [88.73, 93.54, 95.16, 92.70]


@pytest.mark.parametrize(
    "prediction,answer",
    [
        ("Yes", "yes"),
        ("yes", "yes"),
        ("YES", "yes"),
        ("Yes.", "yes"),
        ("yes, it is", "yes"),
        ("Yes! This image was taken in Oakland.", "yes"),
        ("  yes\n", "yes"),
        ("**Yes**", "yes"),
        ('"Yes"', "yes"),
        ("Answer: Yes", "yes"),
        ("The answer is yes.", "yes"),
        ("No", "no"),
        ("NO", "no"),
        ("no.", "no"),
        ("No - it is on Penn Ave", "no"),
        ("No, it is not.", "no"),
        ("No, or rather I am not sure", "no"),
        ("ｙｅｓ", "yes"),
    ],
)
def test_judgement_valid_forms(metric, prediction, answer):
    matching, other = ("Yes", "No") if answer == "yes" else ("No", "Yes")
    assert score_one(metric, prediction, matching, "street", "judgement") == (True, True)
    assert score_one(metric, prediction, other, "street", "judgement") == (False, True)


@pytest.mark.parametrize(
    "prediction",
    ["", "   ", "Yeah", "Y", "N", "Nope", "It is not", "Yes or no", "yes/no", "No / Yes", "yesterday", "Not sure",
     "none", "I think yes", "Forbes Ave"],
)  # fmt: skip
def test_judgement_invalid_forms(metric, prediction):
    for reference in ("Yes", "No"):
        assert score_one(metric, prediction, reference, "district", "judgement") == (False, False)


@pytest.mark.parametrize(
    "prediction",
    [
        "B",
        "b",
        "(B)",
        "( b )",
        "[B]",
        "B.",
        "B)",
        "B:",
        "Option B",
        "option (b)",
        "Choice: B",
        "The answer is B",
        "The answer is B.",
        "The answer is: B",
        "Answer: B",
        "The correct option is (B).",
        "The answer is option B",
        "**B**",
        "(B) Forbes Ave",
        "B. Forbes Ave",
        "B) Forbes Avenue",
        "B: forbes ave.",
        "B Forbes Ave",
        "Forbes Ave",
        "forbes avenue",
        "The answer is Forbes Ave",
        "B. I think so because of the university buildings",
        "(B) Forbes Ave, because of the university buildings",
    ],
)
def test_multiple_choice_forms_that_mean_b(metric, prediction):
    assert score_one(metric, prediction, "B", "street", "multiple_choice", STREETS) == (True, True)
    assert score_one(metric, prediction, "A", "street", "multiple_choice", STREETS) == (False, True)


@pytest.mark.parametrize("prediction", ["C", "(D) Smithfield St", "Penn Avenue", "a", "Smithfield Street"])
def test_multiple_choice_other_letter_is_valid_but_wrong(metric, prediction):
    assert score_one(metric, prediction, "B", "street", "multiple_choice", STREETS) == (False, True)


@pytest.mark.parametrize(
    "prediction",
    [
        "",
        "E",
        "(E)",
        "A or B",
        "A/B",
        "(A) (B)",
        "A. or B.",
        "B, C",
        "(B) Penn Ave",
        "B Street",
        "B Penn Ave",
        "Forbes",
        "Forbes St",
        "I don't know",
        "Ave",
        "The image shows a street.",
    ],
)
def test_multiple_choice_invalid_forms(metric, prediction):
    for reference in ("A", "B"):
        assert score_one(metric, prediction, reference, "street", "multiple_choice", STREETS) == (False, False)


def test_multiple_choice_ambiguous_option_text_is_invalid(metric):
    options = ["Forbes Ave", "Forbes Avenue", "Penn Ave", "Liberty Ave"]
    assert score_one(metric, "Forbes Ave", "A", "street", "multiple_choice", options) == (False, False)
    assert score_one(metric, "A", "A", "street", "multiple_choice", options) == (True, True)


def test_multiple_choice_option_text_beats_letter_reading(metric):
    options = ["A Street", "B Street", "C Street", "D Street"]
    assert score_one(metric, "B Street", "B", "street", "multiple_choice", options) == (True, True)
    assert score_one(metric, "C Street", "B", "street", "multiple_choice", options) == (False, True)
    assert score_one(metric, "(B) B Street", "B", "street", "multiple_choice", options) == (True, True)


def test_multiple_choice_letter_beyond_the_options_is_invalid(metric):
    options = ["Forbes Ave", "Penn Ave"]
    assert score_one(metric, "C", "B", "street", "multiple_choice", options) == (False, False)
    assert score_one(metric, "B", "B", "street", "multiple_choice", options) == (True, True)


def test_multiple_choice_district_options_use_district_normalisation(metric):
    options = ["Downtown", "Oakland", "Strip District", "Shadyside"]
    assert score_one(metric, "Strip", "C", "district", "multiple_choice", options) == (True, True)


@pytest.mark.parametrize(
    "reference,prediction",
    [
        ("Forbes Ave", "Forbes Avenue"),
        ("Forbes Avenue", "forbes ave."),
        ("Liberty Av", "Liberty Avenue"),
        ("Smithfield St", "Smithfield Street"),
        ("Smithfield Street", "SMITHFIELD ST."),
        ("Boulevard of the Allies", "Blvd. of Allies"),
        ("Blvd of the Allies", "Boulevard of the Allies"),
        ("Grant Rd", "Grant Road"),
        ("Ridge Drive", "Ridge Dr"),
        ("Cherry Ln", "Cherry Lane"),
        ("Market Place", "Market Pl"),
        ("Market Sq", "Market Square"),
        ("Oak Court", "Oak Ct."),
        ("Ohio River Hwy", "Ohio River Highway"),
        ("Allegheny Parkway", "Allegheny Pkwy"),
        ("Hill Ter", "Hill Terrace"),
        ("Forbes Avenue & Craig Street", "Forbes Ave and Craig St"),
        ("Forbes Ave and Craig St", "Forbes Avenue & Craig Street"),
        ("East Carson Street", "E. Carson St"),
        ("Fifth Avenue", "5th Ave"),
        ("St. Clair Street", "Saint Clair St"),
        ("Mary's Lane", "Marys Ln"),
        ("Martin Luther King Jr. Way", "Martin Luther King Jr Way"),
        ("Forbes Ave", "Ｆｏｒｂｅｓ Ａｖｅ"),
        ("Forbes Ave", "  forbes \t AVE  "),
        ("Forbes Ave", "The Forbes Ave"),
        ("Wilkes-Barre St", "Wilkes Barre Street"),
        ("Königstraße", "KÖNIGSTRASSE"),
    ],
)
def test_generation_street_normalisation_matches(metric, reference, prediction):
    assert score_one(metric, prediction, reference, "street", "generation") == (True, True)


@pytest.mark.parametrize(
    "reference,prediction",
    [
        ("Strip District", "Strip"),
        ("Strip", "the Strip District"),
        ("South Side Flats", "south side flats."),
        ("Mount Washington", "Mt. Washington"),
        ("Lawrenceville", "Lawrenceville neighborhood"),
        ("North Oakland", "N Oakland"),
    ],
)
def test_generation_district_normalisation_matches(metric, reference, prediction):
    assert score_one(metric, prediction, reference, "district", "generation") == (True, True)


@pytest.mark.parametrize(
    "reference,prediction,level",
    [
        ("Forbes Ave", "Forbes St", "street"),
        ("Penn Ave", "Penn", "street"),
        ("Forbes Ave", "Forbes Ave Street", "street"),
        ("Avenue A", "Avenue", "street"),
        ("Forbes Ave", "Forbes Ave, Oakland", "street"),
        ("Forbes Ave", "The street is Forbes Ave.", "street"),
        ("Strip District", "Strip", "street"),
        ("Strip District", "District", "district"),
        ("Oakland", "North Oakland", "district"),
    ],
)
def test_generation_near_misses_are_wrong(metric, reference, prediction, level):
    assert score_one(metric, prediction, reference, level, "generation") == (False, True)


@pytest.mark.parametrize("prediction", ["", "   ", "...", "!?", "—"])
def test_generation_empty_after_normalisation_is_invalid(metric, prediction):
    assert score_one(metric, prediction, "Oakland", "district", "generation") == (False, False)


def test_every_suffix_abbreviation_matches_both_ways(metric, scoring):
    rows = []
    for form, canonical in scoring.CANONICAL_WORDS.items():
        if form != canonical:
            rows.append(q(f"Craig {form}", f"Craig {canonical}", level="street"))
            rows.append(q(f"Craig {canonical}.", f"Craig {form}", level="street"))
    assert len(rows) > 100
    results = compute(metric, rows, return_per_question=True)
    assert all(results["correct"]), [row for row, ok in zip(rows, results["correct"]) if not ok]


@pytest.mark.parametrize(
    "prediction,correct,valid",
    [
        ("Forbes Ave, Oakland", True, True),
        ("forbes avenue , oakland.", True, True),
        ("Forbes Ave in Oakland", True, True),
        ("Forbes Ave - Oakland", True, True),
        ("Forbes Ave, the Oakland neighborhood", True, True),
        ("Oakland, Forbes Ave", False, True),
        ("Forbes Ave, Downtown", False, True),
        ("Penn Ave, Oakland", False, True),
        ("Forbes Ave, Oakland, Pittsburgh", False, True),
        ("Forbes Ave", False, False),
        ("Oakland", False, False),
        ("", False, False),
        (", Oakland", False, False),
        ("Forbes Ave,", False, False),
    ],
)
def test_street_district_requires_both_parts(metric, prediction, correct, valid):
    assert score_one(metric, prediction, "Forbes Ave, Oakland", "street_district", "generation") == (correct, valid)


def test_street_district_reference_split_on_last_comma(metric):
    reference = "Forbes Avenue & Craig Street, Strip District"
    for prediction, expected in [
        ("Forbes Ave and Craig St, Strip", (True, True)),
        ("Forbes Ave, Craig St, Strip District", (False, True)),
        ("Forbes Ave and Craig St", (False, False)),
    ]:
        assert score_one(metric, prediction, reference, "street_district", "generation") == expected, prediction


def test_georeasoner_recall_and_f1(metric):
    results = compute(metric, MIXED)
    recall, accuracy_valid = 100 * 11 / 14, 100 * 8 / 11
    assert results["recall"] == pytest.approx(recall)
    assert results["accuracy_valid"] == pytest.approx(accuracy_valid)
    assert results["f1"] == pytest.approx(2 * recall * accuracy_valid / (recall + accuracy_valid))
    # Accuracy over all questions is accuracy over the valid ones times recall.
    assert results["A"] == pytest.approx(results["accuracy_valid"] * results["recall"] / 100)
    assert (results["recall_sd"], results["accuracy_valid_sd"], results["f1_sd"]) == pytest.approx((50, 100, 200 / 3))


@pytest.mark.parametrize(
    "refusal",
    [
        "I cannot tell from this image.",
        "I can't determine the street.",
        "I'm not sure.",
        "I\u2019m unable to identify the district",
        "Sorry, I don't know.",
        "Unknown",
        "N/A",
        "It is not possible to determine the location.",
        "The answer is: cannot be determined",
    ],
)
def test_refusals_are_not_valid_answers(metric, refusal):
    assert score_one(metric, refusal, "Oakland", "district", "generation") == (False, False)
    assert score_one(metric, refusal, "Forbes Ave", "street", "generation") == (False, False)


def test_refusals_lower_recall_but_place_names_do_not(metric):
    rows = [q("I cannot tell.", "Oakland"), q("Unknown", "Oakland"), q("Downtown", "Oakland"), q("Oakland", "Oakland")]
    results = compute(metric, rows)
    assert (results["recall"], results["accuracy_valid"]) == pytest.approx((50.0, 50.0))
    sd = compute(metric, [q("I cannot tell, sorry", "Forbes Ave, Oakland", level="street_district")])
    assert sd["recall_sd"] == 0.0
    for name in ("Northside", "Unionville", "Na Poříčí", "Nonesuch Road", "Sorrento Avenue"):
        assert score_one(metric, name, name, "street", "generation") == (True, True), name


def test_georeasoner_metrics_with_no_valid_answer(metric):
    results = compute(metric, [q("Maybe", "Yes", question_type="judgement"), q("", "Oakland")])
    assert results["A"] == 0.0
    assert results["recall"] == 0.0
    assert results["accuracy_valid"] is None
    assert results["f1"] == 0.0


def test_empty_cells_are_none_not_zero(metric):
    results = compute(metric, [q("Forbes Ave, Oakland", "Forbes Ave, Oakland", level="street_district")])
    for cell in CELLS[:-1]:
        assert results[cell] is None, cell
        assert results[f"n_{cell}"] == 0
    for key in ("recall", "accuracy_valid", "f1"):
        assert results[key] is None, key
    assert results["A_sd"] == 100.0
    macro = compute(metric, [q("Oakland", "Oakland")], average="macro")
    assert macro["A_s"] is None and macro["A_s_G"] is None and macro["A_sd"] is None and macro["f1_sd"] is None
    assert macro["A_d"] == 100.0


def test_per_question_lists_only_when_asked(metric):
    plain = compute(metric, MIXED)
    assert "correct" not in plain and "valid" not in plain
    results = compute(metric, MIXED, return_per_question=True)
    assert results["correct"] == [True, False, True, True, True, True, True, False] + [True, False, False] + [
        True,
        False,
        False,
        True,
        False,
    ]
    assert results["valid"] == [True] * 7 + [False, True, True, False, True, False, True, True, False]
    assert sum(results["correct"]) == 9  # 8 in A plus 1 in A_sd


def test_one_folder_serves_the_checkout_the_package_and_the_default(monkeypatch):
    from addressvlm.inference.metric import METRIC_PATH_ENV, default_metric_path

    assert (REPO_ROOT / "evaluation" / "address_accuracy").resolve() == MODULE_DIR  # a link, not a copy
    assert MODULE_DIR.parts[-3:] == ("addressvlm", "evaluation", "address_accuracy")
    monkeypatch.delenv(METRIC_PATH_ENV, raising=False)
    assert default_metric_path() == MODULE_DIR  # `addressvlm eval` reads the package's own copy
    monkeypatch.setenv(METRIC_PATH_ENV, "/elsewhere/address_accuracy")
    assert str(default_metric_path()) == "/elsewhere/address_accuracy"


def test_importable_scoring_equals_the_loaded_module(metric):
    from addressvlm.evaluation.address_accuracy import compute_address_accuracy, normalize_address

    columns = [list(column) for column in zip(*MIXED)]
    assert compute_address_accuracy(*columns, return_per_question=True) == compute(
        metric, MIXED, return_per_question=True
    )
    assert normalize_address("St. Clair Street") == normalize_address("Saint Clair St") == "st clair st"


def test_add_batch_streaming_equals_one_shot(metric, fresh_metric):
    one_shot = compute(metric, MIXED, return_per_question=True)
    for start in range(0, len(MIXED), 3):
        batch = MIXED[start : start + 3]
        fresh_metric.add_batch(**{name: [row[i] for row in batch] for i, name in enumerate(FEATURES)})
    assert fresh_metric.compute(return_per_question=True) == one_shot
    for row in MIXED:
        fresh_metric.add(prediction=row[0], reference=row[1], levels=row[2], question_types=row[3], options=row[4])
    assert fresh_metric.compute(return_per_question=True) == one_shot


def test_module_test_cases(metric):
    spec = importlib.util.spec_from_file_location("address_accuracy_test_cases", MODULE_DIR / "tests.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    assert len(cases.test_cases) >= 5
    for index, case in enumerate(cases.test_cases):
        assert cases.check_test_case(metric, case) == [], index
    # The checker itself must notice a wrong expectation.
    broken = dict(cases.test_cases[0], result={"A_d_G": 0.0, "A_s": 0.0})
    assert len(cases.check_test_case(metric, broken)) == 2


def test_docstring_example_runs(metric, offline_evaluate, monkeypatch):
    evaluate, _ = offline_evaluate
    monkeypatch.chdir(REPO_ROOT)
    test = doctest.DocTestParser().get_doctest(
        metric.info.inputs_description, {"evaluate": evaluate}, "address_accuracy", None, 0
    )
    assert len(test.examples) >= 3
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda _: None)
    assert runner.failures == 0


def test_module_card_examples_run(offline_evaluate, monkeypatch):
    evaluate, _ = offline_evaluate
    monkeypatch.chdir(REPO_ROOT)
    card = (MODULE_DIR / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    assert len(blocks) >= 4
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, "README", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda _: None)
    assert (runner.tries, runner.failures) == (len(test.examples), 0)
    assert runner.tries >= 10


@pytest.mark.parametrize(
    "row,message",
    [
        (q("Oakland", "Oakland", level="neighbourhood"), r"Unknown level 'neighbourhood' at index 1"),
        (q("Oakland", "Oakland", question_type="judgment"), r"Unknown question type 'judgment' at index 1"),
        (q("B", "B", question_type="multiple_choice"), r"index 1 has no options"),
        (q("B", "E", question_type="multiple_choice", options=STREETS), r"letter A-D, got 'E'"),
        (q("B", "Forbes Ave", question_type="multiple_choice", options=STREETS), r"letter A-D.*index 1|index 1.*A-D"),
        (q("C", "C", question_type="multiple_choice", options=STREETS[:2]), r"index 1 has no option"),
        (q("Yes", "Maybe", question_type="judgement"), r"Judgement reference at index 1 must be 'Yes' or 'No'"),
        (q("Yes", "Yes", level="street_district", question_type="judgement"), r"must be of type 'generation'"),
        (q("Forbes Ave", "Forbes Ave", level="street_district"), r"index 1 must be '\{street\}, \{district\}'"),
        (q("Oakland", " ... "), r"Generation reference without letters at index 1"),
        (q("Oakland", "  "), r"Empty generation reference at index 1"),
    ],
)
def test_bad_inputs_raise_clear_errors(fresh_metric, row, message):
    with pytest.raises(ValueError, match=message):
        compute(fresh_metric, [q("Oakland", "Oakland"), row])


def test_length_mismatch_names_both_lengths(fresh_metric):
    with pytest.raises(ValueError, match=r"predictions \(3\) and references \(2\)"):
        fresh_metric.compute(
            predictions=["a", "b", "c"],
            references=["a", "b"],
            levels=["district"] * 3,
            question_types=["generation"] * 3,
            options=[[]] * 3,
        )


def test_length_mismatch_in_the_scoring_function(scoring):
    with pytest.raises(ValueError, match=r"predictions=2, references=2, levels=1, question_types=2, options=2"):
        scoring.compute_address_accuracy(["a", "b"], ["a", "b"], ["district"], ["generation"] * 2, [[], []])


def test_unknown_average_raises(fresh_metric):
    with pytest.raises(ValueError, match=r"average must be one of \['micro', 'macro'\], got 'weighted'"):
        compute(fresh_metric, [q("Oakland", "Oakland")], average="weighted")


def test_module_imports_only_stdlib_datasets_and_evaluate():
    tree = ast.parse((MODULE_DIR / "address_accuracy.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported == {"functools", "re", "string", "unicodedata", "datasets", "evaluate"}


def test_module_card_front_matter_and_documented_keys(metric):
    text = (MODULE_DIR / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front_matter = yaml.safe_load(text.split("---\n")[1])
    assert front_matter["app_file"] == "app.py" and front_matter["sdk"] == "gradio"
    assert {"evaluate", "metric"} <= set(front_matter["tags"])
    results = compute(metric, MIXED, return_per_question=True)
    undocumented = [key for key in results if f"`{key}`" not in text and not key.startswith("n_")]
    assert undocumented == []
    for name in FEATURES:
        assert f"`{name}`" in text
    for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values", "## Citation"):
        assert section in text


def test_percentages_are_exact_fractions(metric):
    rows = [q("Oakland" if i < 1 else "Downtown", "Oakland") for i in range(3)]
    assert math.isclose(compute(metric, rows)["A_d_G"], 100 / 3)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("predictions", 1, r"predictions\[1\] must be a string, got 1"),
        ("references", None, r"references\[1\] must be a string, got None"),
        ("levels", None, r"levels\[1\] must be a string, got None"),
    ],
)
def test_non_text_inputs_name_the_index(fresh_metric, column, value, message):
    inputs = dict(
        predictions=["Oakland", "Oakland"],
        references=["Oakland", "Oakland"],
        levels=["district", "district"],
        question_types=["generation", "generation"],
        options=[[], []],
    )
    inputs[column] = [inputs[column][0], value]
    with pytest.raises(ValueError, match=message):
        fresh_metric.compute(**inputs)


def test_a_missing_answer_is_scored_invalid(fresh_metric):
    results = fresh_metric.compute(
        predictions=[None, "Oakland"],
        references=["Oakland", "Oakland"],
        levels=["district", "district"],
        question_types=["generation", "generation"],
        options=[[], []],
    )
    assert (results["A_d_G"], results["recall"]) == (50.0, 50.0)


@pytest.mark.parametrize(
    ("reference", "prediction"),
    [
        ("Hämeentie", "hameentie"),
        ("Töölö", "Toolo"),
        ("Rue de l'Église", "rue de l'eglise"),
        ("Sörnäinen", "SORNAINEN"),
    ],
)
def test_latin_diacritics_are_ignored(metric, reference, prediction):
    assert score_one(metric, prediction, reference, "street", "generation") == (True, True)


def test_other_scripts_keep_their_marks(metric):
    assert score_one(metric, "カ", "ガ", "street", "generation") == (False, True)


def test_symbol_only_reference_says_so(fresh_metric):
    with pytest.raises(ValueError, match=r"Generation reference without letters at index 1: '🚀'"):
        compute(fresh_metric, [q("Oakland", "Oakland"), q("🚀", "🚀")])


@pytest.mark.parametrize(
    ("prediction", "letter"), [("B1 (B)", "B"), ("b1 [b].", "B"), ("The answer is B1 (B)", "B"), ("B1 (C)", None)]
)
def test_option_text_then_its_letter(scoring, prediction, letter):
    assert scoring.parse_multiple_choice(prediction, ["A1", "B1", "C1", "D1"]) == letter


def test_data_name_identity_is_never_finer_than_the_metric(scoring):
    """Names one in the dataset builders (addressvlm.data.names) are one for the metric too."""
    from addressvlm.data.names import name_key

    names = [
        "Street 1",
        "street 1 ",
        "STREET  1",
        "Hämeentie",
        "Hameentie",
        "Töölö",
        "Toolo",
        "Rue de l'Église",
        "Rue de l'Eglise",
        "St. Mary's",
        "St Marys",
        "Große Straße",
        "GROSSE STRASSE",
        "🏙️ Downtown",
        "Downtown",
        "中山北路",
        "Wilkes-Barre",
        "Wilkes Barre",
        "ｆｕｌｌｗｉｄｔｈ",
        "fullwidth",
    ]
    for a in names:
        for b in names:
            if name_key(a) == name_key(b):
                for level in ("street", "district"):
                    assert scoring.normalize_address(a, level) == scoring.normalize_address(b, level), (a, b)
