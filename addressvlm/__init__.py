"""addressvlm: cross-view alignment tuning of vision-language models for image address localization.

Heavy submodules load lazily: ``import addressvlm`` is cheap. Importing ``addressvlm.models`` (or any of its names,
e.g. ``addressvlm.load_pretrained``) registers the model classes with transformers' Auto classes.
"""

from __future__ import annotations

import lazy_loader


__version__ = "0.1.0.dev0"

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "models": ["load_pretrained", "get_backbone", "list_backbones"],
        "inference": [
            "generate_answers",
            "evaluate_model",
            "format_table",
            "format_table_row",
            "probe_street_distribution",
        ],
        "data": ["load_address_dataset"],
    },
)
__all__ = ["__version__", *__all__]
