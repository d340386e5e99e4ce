"""Training: argument dataclasses, trainable parts, stage chaining, the Trainer, and saved artefacts.

Public names load lazily, so ``import addressvlm.training`` (and ``addressvlm --help``) stays cheap.
"""

from __future__ import annotations

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "arguments": [
            "AddressVLMTrainingArguments",
            "DataArguments",
            "InitArguments",
            "ModelArguments",
            "TrainablePartsArguments",
        ],
        "parser": ["parse_args"],
        "trainable_parts": ["TrainableParts", "apply_trainable_parts", "parameter_table"],
        "stages": ["StartingPoint", "load_starting_point"],
        "collator": ["ConversationCollator"],
        "data": ["TrainingData", "load_training_data"],
        "trainer": ["AddressVLMTrainer"],
        "artifacts": ["ArtifactWriter", "check_saved_tensors"],
        "model_card": ["build_model_card"],
        "merge": ["merge_adapter"],
        "hub": ["push_output_to_hub"],
    },
)
