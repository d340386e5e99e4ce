"""Inference: batched generation, the evaluation runner and the street-distribution probe.

Submodules load lazily so the ``addressvlm`` command line starts without importing torch.
"""

import importlib


_LAZY = {
    "BatchedAnswerer": "answerers",
    "SharedPrefixAnswerer": "shared_prefix",
    "make_answerer": "answerers",
    "StreetMatcher": "probe",
    "collect_questions": "runner",
    "decoding_kwargs": "generation",
    "evaluate_model": "runner",
    "format_table": "tables",
    "format_table_header": "tables",
    "format_table_row": "tables",
    "generate_answers": "generation",
    "load_address_accuracy": "metric",
    "prepare_generation_inputs": "generation",
    "probe_prompt": "probe",
    "probe_street_distribution": "probe",
    "read_predictions": "predictions",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
