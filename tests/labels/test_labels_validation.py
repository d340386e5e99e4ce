"""Validation rules of generated labels, and the name matching underneath."""

from __future__ import annotations

import pytest

from addressvlm.labels.validation import LabelValidator, NameMatcher, clean_label_text, normalize_name


STREETS = ["Forbes Ave", "Liberty Avenue", "Penn Ave", "Penn Ave Extension", "Atwood St", "Töölönkatu"]
DISTRICTS = ["Downtown", "Oakland", "Kluuvi"]
REF = {"street": "Forbes Ave", "district": "Downtown"}


@pytest.fixture(scope="module")
def validator():
    return LabelValidator({"street": STREETS, "district": DISTRICTS})


@pytest.mark.parametrize(
    "text",
    [
        "The street view was taken on Forbes Ave in Downtown.",
        "forbes avenue, DOWNTOWN: the four-lane road matches the label.",
        "Forbes Ave. in Downtown; the crossing with Liberty Avenue is visible at the top of the map.",
    ],
)
def test_label_naming_street_and_district_is_valid(validator, text):
    assert validator.validate(text, REF).ok


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("The street view was taken on Forbes Ave; the road layout matches.", "missing_district"),
        ("The photo was taken in Downtown near a park.", "missing_street"),
        ("This image was taken on Liberty Avenue in Downtown, not far from Forbes Ave.", "other_street_claimed"),
        ("In Downtown, the corner of Atwood St and Forbes Ave.", "other_street_first"),
        ("   ", "empty"),
    ],
)
def test_invalid_labels_report_the_problem(validator, text, problem):
    result = validator.validate(text, REF)
    assert not result.ok
    assert problem in result.problems


def test_another_street_claimed_after_the_reference_is_invalid(validator):
    text = "Forbes Ave is in Downtown, but the answer is Penn Ave."
    result = validator.validate(text, REF)
    assert result.problems == ("other_street_claimed",)


def test_longest_name_wins_so_prefix_streets_do_not_count(validator):
    # "Penn Ave Extension" must not be read as the reference "Penn Ave".
    ref = {"street": "Penn Ave", "district": "Oakland"}
    assert validator.validate("Penn Avenue in Oakland, a wide street.", ref).ok
    result = validator.validate("Penn Ave Extension in Oakland.", ref)
    assert not result.ok and "missing_street" in result.problems


def test_names_match_whole_tokens_and_ignore_accents():
    matcher = NameMatcher({"street": ["Töölönkatu", "Kluuvikatu"], "district": ["Kluuvi"]})
    found = matcher.find("On TOOLONKATU, next to Kluuvikatu.")
    assert [(m.kind, m.name) for m in found] == [("street", "toolonkatu"), ("street", "kluuvikatu")]
    assert normalize_name("Forbes  Avenue") == normalize_name("forbes ave.") == "forbes ave"


def test_reference_missing_from_the_city_lists_is_still_recognised(validator):
    ref = {"street": "Brand New Road", "district": "Kluuvi"}
    assert validator.validate("Brand New Rd in Kluuvi.", ref).ok


def test_district_answer_kind_for_georeasoner_labels():
    validator = LabelValidator({"district": DISTRICTS}, answer_kind="district", required_kinds=("district",))
    assert validator.validate("The photo was taken in Oakland: brick houses.", {"district": "Oakland"}).ok
    result = validator.validate("It was taken in Downtown, not Oakland.", {"district": "Oakland"})
    assert set(result.problems) == {"other_district_first", "other_district_claimed"}


def test_clean_label_text():
    assert clean_label_text('  Reason: "Forbes Ave\n in  Downtown."  ') == "Forbes Ave in Downtown."
    assert clean_label_text("") == ""
