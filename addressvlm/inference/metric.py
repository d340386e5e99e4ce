"""Locate and load the ``address_accuracy`` `evaluate` module: the single source of scoring and answer matching."""

from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path


__all__ = ["METRIC_PATH_ENV", "default_metric_path", "load_address_accuracy", "metric_functions", "score_records"]

METRIC_PATH_ENV = "ADDRESSVLM_METRIC_PATH"
"""Environment variable that points at another metric folder (overrides the one shipped in the package)."""


def default_metric_path() -> Path:
    """The metric folder: ``$ADDRESSVLM_METRIC_PATH`` if set, else the one shipped in the package
    (`addressvlm.evaluation.ADDRESS_ACCURACY_DIR`, which a checkout also links as ``evaluation/address_accuracy``)."""
    if os.environ.get(METRIC_PATH_ENV):
        return Path(os.environ[METRIC_PATH_ENV])
    from addressvlm.evaluation import ADDRESS_ACCURACY_DIR

    return ADDRESS_ACCURACY_DIR


@functools.lru_cache(maxsize=4)
def load_address_accuracy(path: str | os.PathLike | None = None):
    """Load the metric with `evaluate.load` from a local folder (cached per path; offline-safe).

    Args:
        path (`str` or `os.PathLike`, *optional*): the folder holding ``address_accuracy.py``; defaults to
            `default_metric_path`.

    Returns:
        `evaluate.Metric`: the ``AddressAccuracy`` module.
    """
    import evaluate

    folder = Path(path) if path is not None else default_metric_path()
    script = folder / "address_accuracy.py"
    if not script.is_file():
        raise FileNotFoundError(
            f"The address_accuracy metric was not found at {script}. Pass metric_path= (CLI: --metric-path) or set "
            f"${METRIC_PATH_ENV} to a folder holding address_accuracy.py (unset, the package's own copy is used)."
        )
    return evaluate.load(str(folder.resolve()))


def metric_functions(metric) -> object:
    """The Python module behind a loaded metric, to reuse its answer normalisation (e.g. ``normalize_address``)."""
    return inspect.getmodule(type(metric))


def score_records(metric, questions, records: list[dict]) -> tuple[dict, list[dict]]:
    """Score answer records (one per question, in order) with the ``address_accuracy`` metric.

    Returns:
        `tuple(dict, list[dict])`: the metric's scores, and the records with its ``correct`` / ``valid`` verdicts.
    """
    scores = metric.compute(
        predictions=[r["prediction"] for r in records],
        references=[q.reference for q in questions],
        levels=[q.level for q in questions],
        question_types=[q.type for q in questions],
        options=[list(q.options) for q in questions],
        return_per_question=True,
    )
    correct, valid = scores.pop("correct"), scores.pop("valid")
    return scores, [{**r, "correct": c, "valid": v} for r, c, v in zip(records, correct, valid)]
