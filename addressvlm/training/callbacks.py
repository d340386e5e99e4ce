"""Trainer callbacks: self-contained checkpoints, and stacked adapters that stay active after a resume."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR


__all__ = ["CheckpointArtifactsCallback", "StackedAdaptersCallback"]

logger = logging.getLogger(__name__)


def _latest_metrics(state) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for entry in state.log_history:
        metrics.update({k: v for k, v in entry.items() if isinstance(v, (int, float)) and k != "step"})
    metrics["global_step"] = state.global_step
    return metrics


class CheckpointArtifactsCallback(TrainerCallback):
    """After each checkpoint save, complete ``checkpoint-N`` with `ArtifactWriter.finalize` (generation config,
    merged parent adapters, relative base path, model card) and check that no saved tensor is empty.

    The Trainer already writes the adapter (with ``modules_to_save``), the processor, the optimizer and RNG state.

    Args:
        writer (`ArtifactWriter`): the output's writer.
    """

    def __init__(self, writer):
        self.writer = writer

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if folder.is_dir():
            self.writer.finalize(folder, _latest_metrics(state))


class StackedAdaptersCallback(TrainerCallback):
    """Keep the new adapter and the frozen stacked ones active together.

    ``Trainer._load_from_checkpoint`` re-activates only the first active adapter when it resumes a PEFT model with
    several (transformers 5 warns "Multiple active adapters detected will only consider the first adapter"), which
    would silently drop the stacked stage. This re-applies the adapters and trainability at the start of training.

    Args:
        active (`list[str]`): adapter names to keep active (the trained one first).
        restore (`Callable[[model], None]`): re-applies ``requires_grad`` (`trainable_parts.set_requires_grad`).
    """

    def __init__(self, active: list[str], restore):
        self.active = list(active)
        self.restore = restore

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is None or list(model.active_adapters) == self.active:
            return
        logger.warning(
            "Re-activating stacked adapters %s (found %s after loading)", self.active, model.active_adapters
        )
        model.base_model.set_adapter(self.active)
        self.restore(model)
