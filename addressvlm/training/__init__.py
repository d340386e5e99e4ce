"""Training: argument dataclasses, trainable parts, stage chaining, the Trainer, and saved artefacts.

Public names load lazily, so ``import addressvlm.training`` (and ``addressvlm --help``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any


_EXPORTS: dict[str, str] = {
    "AddressVLMTrainingArguments": "arguments",
    "DataArguments": "arguments",
    "InitArguments": "arguments",
    "ModelArguments": "arguments",
    "TrainablePartsArguments": "arguments",
    "parse_args": "parser",
    "TrainableParts": "trainable_parts",
    "apply_trainable_parts": "trainable_parts",
    "parameter_table": "trainable_parts",
    "StartingPoint": "stages",
    "load_starting_point": "stages",
    "ConversationCollator": "collator",
    "TrainingData": "data",
    "load_training_data": "data",
    "AddressVLMTrainer": "trainer",
    "ArtifactWriter": "artifacts",
    "check_saved_tensors": "artifacts",
    "build_model_card": "model_card",
    "merge_adapter": "merge",
    "push_output_to_hub": "hub",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
