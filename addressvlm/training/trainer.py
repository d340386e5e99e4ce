"""A narrow `Trainer` subclass: per-module-group learning rates and the padding fraction in the logs.

Everything else (loop, accumulation, mixed precision, DeepSpeed, checkpoints, resume) is the stock HF Trainer.
"""

from __future__ import annotations

import logging

from transformers import Trainer


__all__ = ["AddressVLMTrainer"]

logger = logging.getLogger(__name__)


class AddressVLMTrainer(Trainer):
    r"""
    [`~transformers.Trainer`] with three additions.

    * The optimizer gets one param group per (module group learning rate, weight decay), so the projector and the
      vision encoder can train at their own rates (``projector_lr``, ``vision_lr``).
    * ``padding_fraction`` (padded share of the batch positions since the last log) is logged with the loss.
    * ``resume_weights_only`` skips loading the optimizer and schedule of the checkpoint (see
      `addressvlm.training.checkpoints`).

    Args:
        group_learning_rates (`dict[str, float]`, *optional*):
            Learning rate per backbone module group (``vision``, ``projector``, ``llm``, ``lm_head``, ``other``);
            missing groups use ``args.learning_rate``. Unset or all equal: the stock optimizer setup.
        backbone (`BackboneSpec`, *optional*):
            Maps parameter names to module groups; required with ``group_learning_rates``.
        *args, **kwargs:
            Passed to `Trainer`.
    """

    def __init__(self, *args, group_learning_rates: dict[str, float] | None = None, backbone=None, **kwargs):
        super().__init__(*args, **kwargs)
        columns = getattr(self.train_dataset, "column_names", None)
        column = self.args.length_column_name
        if self.args.train_sampling_strategy in ("group_by_length", "batch_rebalance") and columns is not None:
            if column not in columns:
                raise ValueError(
                    f"train_sampling_strategy={self.args.train_sampling_strategy} needs a {column!r} column of "
                    "example lengths (addressvlm.training.data.add_length_column adds it); or set "
                    "train_sampling_strategy to random"
                )
        self.group_learning_rates = dict(group_learning_rates or {})
        self.backbone = backbone
        if self.group_learning_rates and backbone is None:
            raise ValueError("group_learning_rates needs the backbone spec to map parameters to module groups")
        self._batch_positions = 0
        self._padded_positions = 0

    def _load_optimizer_and_scheduler(self, checkpoint):
        if checkpoint is not None and getattr(self.args, "resume_weights_only", False):
            logger.warning(
                "resume_weights_only: %s resumed with its weights and step only; the optimizer starts fresh and the "
                "learning-rate schedule restarts",
                checkpoint,
            )
            return
        super()._load_optimizer_and_scheduler(checkpoint)

    def create_optimizer(self, model=None):
        rates = set(self.group_learning_rates.values()) | {self.args.learning_rate}
        if self.optimizer is not None or len(rates) == 1:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        if {"params", "model", "optimizer_dict"} & set(optimizer_kwargs):
            logger.warning(
                "optim=%s builds its own parameter groups: per-group learning rates ignored", self.args.optim
            )
            return super().create_optimizer(model)
        decay = set(self.get_decay_parameter_names(opt_model))
        buckets: dict[tuple[float, float], list] = {}
        for name, param in opt_model.named_parameters():
            if not param.requires_grad:
                continue
            lr = self.group_learning_rates.get(self.backbone.group_of(name), self.args.learning_rate)
            weight_decay = self.args.weight_decay if name in decay else 0.0
            buckets.setdefault((lr, weight_decay), []).append(param)
        groups = [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in buckets.items()]
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        logger.info(
            "Optimizer param groups (lr, weight decay, tensors): %s",
            [(lr, wd, len(p)) for (lr, wd), p in buckets.items()],
        )
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mask = inputs.get("attention_mask")
        if mask is not None and model.training:
            if mask.ndim == 4:  # turn-isolated rows: a position is real when it may attend to itself
                mask = mask[:, 0].diagonal(dim1=-2, dim2=-1)
            self._batch_positions += mask.numel()
            self._padded_positions += int(mask.numel() - int(mask.sum()))
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._batch_positions:
            logs["padding_fraction"] = round(self._padded_positions / self._batch_positions, 4)
            self._batch_positions = self._padded_positions = 0
        super().log(logs, start_time)
