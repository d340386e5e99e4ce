"""addressvlm: cross-view alignment tuning of vision-language models for image address localization.

Heavy submodules load lazily: ``import addressvlm`` is cheap. Importing ``addressvlm.models`` (or any of its names,
e.g. ``addressvlm.load_pretrained``) registers the model classes with transformers' Auto classes.
"""

from __future__ import annotations

import importlib


__version__ = "0.1.0.dev0"

_LAZY = {
    "load_pretrained": "addressvlm.models",
    "get_backbone": "addressvlm.models",
    "list_backbones": "addressvlm.models",
    "generate_answers": "addressvlm.inference",
    "evaluate_model": "addressvlm.inference",
    "format_table": "addressvlm.inference",
    "format_table_row": "addressvlm.inference",
    "probe_street_distribution": "addressvlm.inference",
    "load_address_dataset": "addressvlm.data",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'addressvlm' has no attribute {name!r}")
