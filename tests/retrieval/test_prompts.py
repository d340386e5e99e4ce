"""The retrieval-augmented question, word for word (the documented template)."""

from addressvlm.inference.probe import PROBE_QUESTION
from addressvlm.retrieval.prompts import TEMPLATE_VERSION, format_addresses, rag_question, retrieval_hint


QUESTION = "What district is shown in this photograph? Answer the question using a single word or phrase."


def test_golden_prompt_with_similar_and_dissimilar_images():
    similar = ["Kaivokatu, Kluuvi", "Mikonkatu, Kluuvi", "Kaivokatu, Kluuvi", "Kaivokatu, Kluuvi"]
    dissimilar = ["Siltasaarenkatu, Siltasaari", "Siltasaarenkatu, Siltasaari"]
    assert rag_question(QUESTION, retrieval_hint(similar, dissimilar)) == (
        "For your reference, these are the addresses of some similar images: Kaivokatu, Kluuvi (3 images); "
        "Mikonkatu, Kluuvi (1 image); and these are the addresses of some dissimilar images, which should be far "
        "away: Siltasaarenkatu, Siltasaari (2 images). What district is shown in this photograph? Answer the "
        "question using a single word or phrase."
    )
    assert TEMPLATE_VERSION == 1  # bump it with any change of the wording above


def test_partial_hints_and_no_hint():
    assert (
        retrieval_hint(["A, X"])
        == "For your reference, these are the addresses of some similar images: A, X (1 image)."
    )
    assert retrieval_hint([], ["B, Y", "C, Z"]) == (
        "For your reference, these are the addresses of some dissimilar images, which should be far away: "
        "B, Y (1 image); C, Z (1 image)."
    )
    assert retrieval_hint([], []) == "" and rag_question(QUESTION, "") == QUESTION
    # addresses keep the order of their best rank, whatever their counts
    assert format_addresses(["B", "A", "A", "C", "A"]) == "B (1 image); A (3 images); C (1 image)"


def test_the_probe_puts_the_hint_where_evaluation_does():
    hint = retrieval_hint(["Kaivokatu, Kluuvi"])
    assert rag_question(PROBE_QUESTION, hint).startswith(hint + " What street is this photo taken on?")
