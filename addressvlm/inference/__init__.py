"""Inference: batched generation, the evaluation runner and the street-distribution probe.

Submodules load lazily so the ``addressvlm`` command line starts without importing torch.
"""

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "answerers": ["BatchedAnswerer", "make_answerer"],
        "shared_prefix": ["SharedPrefixAnswerer"],
        "probe": ["StreetMatcher", "probe_prompt", "probe_street_distribution"],
        "runner": ["collect_questions", "evaluate_model"],
        "generation": ["decoding_kwargs", "generate_answers", "prepare_generation_inputs"],
        "tables": ["format_table", "format_table_header", "format_table_row"],
        "metric": ["load_address_accuracy"],
        "predictions": ["read_predictions"],
    },
)
