"""The ``address_accuracy`` metric: the `evaluate` module beside this file, importable without `evaluate.load`.

`evaluate.load` reads ``address_accuracy.py`` alone (this file is not part of the Space); importing the package gives
its scoring functions to other projects::

    from addressvlm.evaluation.address_accuracy import compute_address_accuracy, normalize_address
"""

from .address_accuracy import (
    OUTPUT_CELLS,
    AddressAccuracy,
    compute_address_accuracy,
    is_refusal,
    normalize_address,
    parse_judgement,
    parse_multiple_choice,
    score_question,
    split_street_district,
)


__all__ = [
    "OUTPUT_CELLS",
    "AddressAccuracy",
    "compute_address_accuracy",
    "is_refusal",
    "normalize_address",
    "parse_judgement",
    "parse_multiple_choice",
    "score_question",
    "split_street_district",
]
