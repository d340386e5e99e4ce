"""Load the model a stage starts from: the base alone, or the base plus an earlier stage's output.

Stage 2 from stage 1 (``init_from``):

* an adapter output with ``init_mode=merge`` (default): stage 1's LoRA is merged into the base weights and its
  trained projector / vision encoder replace the base's; stage 2 then adds a fresh LoRA.
* an adapter output with ``init_mode=stack`` (GeoReasoner style): stage 1's full weights are written into the base,
  its LoRA stays a separate frozen adapter that stays active under stage 2's.
* a full-model output (stage 1 trained without LoRA): that checkpoint is the base.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addressvlm.models.adapters import (
    ADAPTER_CONFIG,
    apply_adapter,
    read_adapter_chain,
    resolve_base_model,
    stack_adapter,
)

from .artifacts import BaseModelRef, ParentAdapter


__all__ = ["StartingPoint", "load_starting_point"]

logger = logging.getLogger(__name__)


@dataclass
class StartingPoint:
    """What a stage starts from.

    Args:
        model (`PreTrainedModel` or `peft.PeftModel`): the model (a `PeftModel` only with stacked earlier stages).
        processor (`BackboneProcessor`): its processor.
        base (`BaseModelRef`): the base model record for saved adapters.
        parents (`list[ParentAdapter]`): earlier stages this one is chained on.
        carried_groups (`tuple[str, ...]`): module groups an earlier stacked stage trained in full; this stage's
            adapter must carry their weights.
    """

    model: Any
    processor: Any
    base: BaseModelRef
    parents: list[ParentAdapter] = field(default_factory=list)
    carried_groups: tuple[str, ...] = ()


def _load_base(name_or_path: str, model_args):
    import torch

    from addressvlm.models import get_backbone, load_pretrained

    kwargs = {"torch_dtype": getattr(torch, model_args.dtype)}
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    if model_args.pad_image_to_square is not None:
        kwargs["pad_image_to_square"] = model_args.pad_image_to_square
    # Loading must not move the random state: under ZeRO-3 the model is built inside deepspeed.zero.Init, which draws
    # random numbers, and LoRA (initialised next) would then start elsewhere than in a one-process run of the seed.
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        model, processor = load_pretrained(name_or_path, **kwargs)
    max_text_length = model_args.max_text_length
    processor.max_text_length = max_text_length or get_backbone(model.config).default_max_text_length
    if hasattr(processor, "pad_image_to_square"):  # a backbone option (LLaVA's); saved full checkpoints carry it too
        model.config.pad_image_to_square = processor.pad_image_to_square
    return model, processor


def _same_checkpoint(a: str, b: str) -> bool:
    return a == b or (Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve())


def _full_groups_of(adapter_dir: Path, spec) -> tuple[str, ...]:
    saved = json.loads((adapter_dir / ADAPTER_CONFIG).read_text()).get("modules_to_save") or []
    groups = {spec.group_of(prefix) for prefix in saved}
    return tuple(sorted(groups - {"projector", "other"}))


def load_starting_point(model_args, init_args=None) -> StartingPoint:
    """Load the base (and an earlier stage, if ``init_args.init_from`` is set) for training.

    Args:
        model_args (`ModelArguments`): base checkpoint, dtype, attention, image padding, text length.
        init_args (`InitArguments`, *optional*): ``init_from`` and ``init_mode``.

    Raises:
        `ValueError`: neither ``model_name_or_path`` nor ``init_from`` given, or both given for a full-model
        ``init_from``.
    """
    from addressvlm.models import get_backbone, resolve_checkpoint_dir

    init_from = getattr(init_args, "init_from", None)
    mode = getattr(init_args, "init_mode", "merge")
    if init_from is None:
        if not model_args.model_name_or_path:
            raise ValueError("model_name_or_path is required (the base checkpoint: a Hub id or a local folder)")
        model, processor = _load_base(model_args.model_name_or_path, model_args)
        base = BaseModelRef.from_name(model_args.base_model_id or model_args.model_name_or_path)
        return StartingPoint(model, processor, base)

    init_dir = resolve_checkpoint_dir(init_from)
    if not (init_dir / ADAPTER_CONFIG).is_file():  # a full checkpoint: it is the base
        if model_args.model_name_or_path:
            raise ValueError(
                f"init_from={init_from} is a full model, which is the base of this stage; leave model_name_or_path "
                f"unset (got {model_args.model_name_or_path!r})"
            )
        model, processor = _load_base(str(init_dir), model_args)
        return StartingPoint(model, processor, BaseModelRef.from_name(model_args.base_model_id or init_from))

    from transformers.integrations import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled():
        raise ValueError(
            f"init_from={init_from} is an adapter, which cannot be merged or stacked under ZeRO-3 (weights are "
            f"sharded while they load). Merge it first -- addressvlm merge {init_from} --output <dir> -- and pass "
            "--init_from <dir>, or train this stage with ZeRO-2."
        )
    recorded = resolve_base_model(init_dir)
    base_name = model_args.model_name_or_path or recorded
    if not _same_checkpoint(recorded, base_name):
        logger.warning("init_from %s was trained on %s, but this stage loads %s", init_from, recorded, base_name)
    model, processor = _load_base(base_name, model_args)
    base = BaseModelRef.from_name(model_args.base_model_id or base_name)
    name = f"stage{len(read_adapter_chain(init_dir)) + 1}"
    if mode == "stack":
        model = stack_adapter(model, init_dir, name)
        carried = _full_groups_of(init_dir, get_backbone(model.config))
    else:  # merge (`InitArguments` checks the mode)
        model = apply_adapter(model, init_dir).merge_and_unload()
        carried = ()
    logger.info("Starting from %s (%s, as adapter %r) on base %s", init_from, mode, name, base_name)
    return StartingPoint(model, processor, base, [ParentAdapter(name, mode, init_dir)], carried)
