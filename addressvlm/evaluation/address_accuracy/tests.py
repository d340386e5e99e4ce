"""Test cases of the `address_accuracy` metric, in the format of the `evaluate` module template.

Each case gives the metric's inputs, optional `compute` keyword arguments (`kwargs`) and the expected values of some
output keys (`result`). Run this file to check them: `python evaluation/address_accuracy/tests.py` (offline). The
project's test suite (`tests/evaluation/test_address_accuracy.py`) runs the same cases.
"""

import math
import os
import sys


_FOUR_STREETS = ["Liberty Ave", "Forbes Ave", "Penn Ave", "Smithfield St"]
_FOUR_DISTRICTS = ["Downtown", "Oakland", "Strip District", "Shadyside"]

test_cases = [
    {
        # One question per district cell: generation right, judgement wrong, multiple choice right.
        "predictions": ["Oakland", "No", "B"],
        "references": ["Oakland", "Yes", "B"],
        "levels": ["district", "district", "district"],
        "question_types": ["generation", "judgement", "multiple_choice"],
        "options": [[], [], _FOUR_DISTRICTS],
        "result": {
            "A_d_G": 100.0,
            "A_d_J": 0.0,
            "A_d_M": 100.0,
            "A_d": 200.0 / 3,
            "A": 200.0 / 3,
            "A_s": None,
            "A_sd": None,
            "n_A_d": 3,
            "n_A_s": 0,
        },
    },
    {
        # Street level: normalised generation match, judgement counted twice (Yes and No), option text as answer.
        "predictions": ["forbes avenue.", "Yes, it is.", "NO", "Forbes Avenue", "C"],
        "references": ["Forbes Ave", "Yes", "No", "B", "B"],
        "levels": ["street"] * 5,
        "question_types": ["generation", "judgement", "judgement", "multiple_choice", "multiple_choice"],
        "options": [[], [], [], _FOUR_STREETS, _FOUR_STREETS],
        "result": {
            "A_s_G": 100.0,
            "A_s_J": 100.0,
            "A_s_M": 50.0,
            "A_s": 80.0,
            "n_A_s_J": 2,
            "n_A_s_M": 2,
            "A_d": None,
            "A": 80.0,
        },
    },
    {
        # The same street questions, macro-averaged: A_s is the mean of the three type accuracies.
        "predictions": ["forbes avenue.", "Yes, it is.", "NO", "Forbes Avenue", "C"],
        "references": ["Forbes Ave", "Yes", "No", "B", "B"],
        "levels": ["street"] * 5,
        "question_types": ["generation", "judgement", "judgement", "multiple_choice", "multiple_choice"],
        "options": [[], [], [], _FOUR_STREETS, _FOUR_STREETS],
        "kwargs": {"average": "macro"},
        "result": {"A_s": 250.0 / 3, "A": 250.0 / 3, "n_A_s": 5},
    },
    {
        # Street and district: both parts must be right; a street alone is invalid and wrong.
        "predictions": ["Forbes Avenue, Oakland", "Forbes Ave, Downtown", "Forbes Ave", "Forbes Ave in Oakland"],
        "references": ["Forbes Ave, Oakland"] * 4,
        "levels": ["street_district"] * 4,
        "question_types": ["generation"] * 4,
        "options": [[], [], [], []],
        "result": {
            "A_sd": 50.0,
            "n_A_sd": 4,
            "n_valid_A_sd": 3,
            "recall_sd": 75.0,
            "accuracy_valid_sd": 200.0 / 3,
            "A": None,
        },
    },
    {
        # GeoReasoner's recall and F1: two valid answers out of four, one of them right.
        "predictions": ["Downtown", "Maybe", "", "(A) Liberty Ave"],
        "references": ["Oakland", "No", "Downtown", "A"],
        "levels": ["district", "district", "district", "street"],
        "question_types": ["generation", "judgement", "generation", "multiple_choice"],
        "options": [[], [], [], _FOUR_STREETS],
        "result": {
            "A": 25.0,
            "recall": 50.0,
            "accuracy_valid": 50.0,
            "f1": 50.0,
            "n_valid_A": 2,
            "n_valid_A_d": 1,
        },
    },
]


def _matches(expected, actual):
    if expected is None or actual is None:
        return expected is actual
    if isinstance(expected, float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9)
    return expected == actual


def check_test_case(module, case):
    """Computes one test case with a loaded `address_accuracy` module; returns a list of mismatch messages."""
    inputs = {key: case[key] for key in ("predictions", "references", "levels", "question_types", "options")}
    results = module.compute(**inputs, **case.get("kwargs", {}))
    return [
        f"{key}: expected {value!r}, got {results.get(key)!r}"
        for key, value in case["result"].items()
        if not _matches(value, results.get(key))
    ]


def main():
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    module = evaluate.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "address_accuracy.py"))
    failures = 0
    for index, case in enumerate(test_cases):
        problems = check_test_case(module, case)
        failures += bool(problems)
        print(f"case {index}: {'FAIL' if problems else 'ok'}")
        for problem in problems:
            print(f"    {problem}")
    print(f"{len(test_cases) - failures}/{len(test_cases)} test cases passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
