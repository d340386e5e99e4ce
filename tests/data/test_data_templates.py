"""The paper's templates are kept verbatim (Tables B4 and B5, Fig. 10)."""

from __future__ import annotations

from addressvlm.data import templates


def test_ten_stems_per_level_verbatim():
    assert len(templates.DISTRICT_STEMS) == len(set(templates.DISTRICT_STEMS)) == 10
    assert len(templates.STREET_STEMS) == len(set(templates.STREET_STEMS)) == 10
    assert templates.DISTRICT_STEMS[0] == "Tell me the district where this image was captured."
    assert templates.DISTRICT_STEMS[6] == "I'm looking for the name of the district in this photo, can you help?"
    assert templates.STREET_STEMS[3] == "Give me the name of the street that appears in this photograph."
    assert templates.STREET_STEMS[9] == "What thoroughfare is depicted here?"


def test_type_suffixes_verbatim():
    assert templates.GENERATION_SUFFIX == "Answer the question using a single word or phrase."
    assert templates.JUDGEMENT_SUFFIX["street"].format(name="Forbes Ave") == (
        "Is this image taken on Forbes Ave, Yes or No?"
    )
    assert templates.JUDGEMENT_SUFFIX["district"].format(name="Downtown") == (
        "Is this image taken in Downtown, Yes or No?"
    )
    assert templates.MULTIPLE_CHOICE_SUFFIX.format(level="street", a="W", b="X", c="Y", d="Z") == (
        "Which of the following street correctly represents the location shown in the image? "
        "(A) W (B) X (C) Y (D) Z. Please select the correct option (A/B/C/D)."
    )


def test_fig10_prompts():
    assert templates.FIG10_PROMPTS["street_district"] == (
        "Which street and district is the image located? Answer the question using a single phrase."
    )
    assert templates.FIG10_PROMPTS["district"].endswith(templates.GENERATION_SUFFIX)
    assert set(templates.FIG10_PROMPTS) == set(templates.LEVELS)
