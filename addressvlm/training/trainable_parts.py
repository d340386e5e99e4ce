"""What is trained, per module group: frozen / full / LoRA for the vision encoder, projector and LLM (Table 4).

Module groups and their paths come from the backbone registry (`addressvlm.models.get_backbone`), never from string
literals here, so another backbone plugs in through its `BackboneSpec`: the arguments choose ``vision``,
``projector`` and ``llm``; a group the spec says follows another (``lm_head`` follows ``llm``) is trained in full when
its leader is, and any other group stays frozen.

* LoRA groups get PEFT LoRA layers (targets from the registry: LLM targets are anchored to the language model).
* Full groups are PEFT ``modules_to_save``: trained in place and written into ``adapter_model.safetensors``, so every
  checkpoint and the pushed adapter carry them. The projector is always saved, trained or not.
* Without any LoRA group (e.g. stage 1 of Table 4's variants A-C) there is no adapter: full groups train directly
  and the output is a full checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass


__all__ = [
    "CHOSEN_GROUPS",
    "GROUP_NAMES",
    "TrainableParts",
    "apply_trainable_parts",
    "build_lora_config",
    "format_parameter_table",
    "parameter_table",
    "param_group_learning_rates",
    "set_requires_grad",
    "stacked_adapters",
]

logger = logging.getLogger(__name__)

GROUP_NAMES = ("vision", "projector", "llm", "lm_head")
"""Groups of a `TrainableParts` built without a backbone spec."""
CHOSEN_GROUPS = ("vision", "projector", "llm")
"""Groups the trainable-parts arguments set; every backbone has them."""
_FROZEN_ADAPTER_ATTR = "_addressvlm_frozen_adapters"


@dataclass(frozen=True)
class TrainableParts:
    """Resolved per-group training modes.

    Args:
        vision (`str`): ``frozen``, ``full`` or ``lora``.
        projector (`str`): ``full`` or ``frozen``.
        llm (`str`): ``lora``, ``full`` or ``frozen``; the LM head follows ``full``.
        carried (`tuple[str, ...]`, *optional*): groups trained by an earlier, stacked stage whose weights this
            stage's adapter must carry (saved, not trained).
        groups (`tuple[str, ...]`, *optional*): the backbone's module groups (`BackboneSpec.group_names`).
        follows (`tuple[tuple[str, str], ...]`, *optional*): (group, leader) pairs: the group is trained in full
            when its leader is (`BackboneSpec.group_follows`).
    """

    vision: str = "frozen"
    projector: str = "full"
    llm: str = "lora"
    carried: tuple[str, ...] = ()
    groups: tuple[str, ...] = GROUP_NAMES
    follows: tuple[tuple[str, str], ...] = (("lm_head", "llm"),)

    @classmethod
    def from_args(cls, args, carried: tuple[str, ...] = (), spec=None) -> TrainableParts:
        """The modes of ``args`` (`TrainablePartsArguments`) over the groups of ``spec`` (`BackboneSpec`)."""
        layout = {} if spec is None else {"groups": spec.group_names, "follows": tuple(spec.group_follows.items())}
        return cls(vision=args.vision, projector=args.projector, llm=args.llm, carried=tuple(carried), **layout)

    def mode(self, group: str) -> str:
        """The mode of a registry group: ``frozen``, ``full`` or ``lora``."""
        if group in CHOSEN_GROUPS:
            return getattr(self, group)
        leader = dict(self.follows).get(group)
        if leader is not None:
            return "full" if self.mode(leader) == "full" else "frozen"
        return "frozen"

    @property
    def lora_groups(self) -> tuple[str, ...]:
        return tuple(group for group in self.groups if self.mode(group) == "lora")

    @property
    def full_groups(self) -> tuple[str, ...]:
        return tuple(group for group in self.groups if self.mode(group) == "full")

    @property
    def saved_groups(self) -> tuple[str, ...]:
        """Groups whose full weights go into the adapter: trained ones, carried ones, and always the projector."""
        groups = set(self.full_groups) | set(self.carried) | {"projector"}
        return tuple(group for group in self.groups if group in groups)


def build_lora_config(spec, parts: TrainableParts, args):
    """A `peft.LoraConfig` for ``parts``, or `None` when no group uses LoRA.

    Args:
        spec (`BackboneSpec`): the backbone (module prefixes and LoRA target regexes).
        parts (`TrainableParts`): the modes.
        args (`TrainablePartsArguments`): rank, alpha, dropout and optional target overrides.
    """
    from peft import LoraConfig

    patterns = []
    if "llm" in parts.lora_groups:
        patterns.append(args.lora_target_modules or spec.lora_target_modules)
    if "vision" in parts.lora_groups:
        patterns.append(args.vision_lora_target_modules or spec.vision_lora_target_modules)
    if not patterns:
        return None
    conflicts = [group for group in parts.saved_groups if group in parts.lora_groups]
    if conflicts:
        raise ValueError(
            f"Module group(s) {conflicts} would get LoRA and also be saved in full (trained in full by the stacked "
            "earlier stage); use init_mode=merge or train them in full here."
        )
    target = patterns[0] if len(patterns) == 1 else "|".join(f"(?:{pattern})" for pattern in patterns)
    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=target,
        modules_to_save=[spec.module_groups[group] for group in parts.saved_groups],
        bias="none",
    )


def _adapter_of(name: str) -> str | None:
    """The adapter a LoRA / modules_to_save parameter belongs to (``...lora_A.<adapter>.weight``)."""
    parts = name.split(".")
    for marker in ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "modules_to_save"):
        if marker in parts:
            index = parts.index(marker)
            if index + 1 < len(parts):
                return parts[index + 1]
    return None


def set_requires_grad(model, spec, parts: TrainableParts, frozen_adapters: tuple[str, ...] = ()) -> None:
    """Set ``requires_grad`` on every parameter from ``parts`` (idempotent; re-applied after PEFT surgery).

    LoRA parameters of adapters in ``frozen_adapters`` (stacked earlier stages) stay frozen; LoRA parameters of the
    others train in LoRA groups. Full groups train their ``modules_to_save`` copy (or the weights themselves
    without PEFT); ``original_module`` copies and frozen groups do not train.
    """
    trainable_full = set(parts.full_groups)
    for name, param in model.named_parameters():
        group = spec.group_of(name)
        if ".lora_" in name:
            param.requires_grad = parts.mode(group) == "lora" and _adapter_of(name) not in frozen_adapters
        elif ".original_module." in name:
            param.requires_grad = False
        else:
            param.requires_grad = group in trainable_full
    setattr(model, _FROZEN_ADAPTER_ATTR, tuple(frozen_adapters))


def stacked_adapters(model) -> tuple[str, ...]:
    """Names of the frozen adapters of earlier stages stacked under the trained one (recorded by
    `set_requires_grad`)."""
    return getattr(model, _FROZEN_ADAPTER_ATTR, ())


def apply_trainable_parts(model, parts: TrainableParts, args, spec=None, activation_checkpointing: bool = False):
    """Freeze, add LoRA and mark full groups as ``parts`` says; return the model to train.

    With ``activation_checkpointing`` and a LoRA group, the input embeddings are made to require grad, for every
    backbone: otherwise a checkpointed block of a frozen LLM may get no input that requires grad and its LoRA
    factors no gradient (the "LoRA B never changes" pitfall). Non-reentrant checkpointing is transformers' default.

    Args:
        model (`PreTrainedModel` or `peft.PeftModel`): the base model, or a `PeftModel` holding frozen stacked
            adapters of earlier stages (the new adapter is added as ``"default"`` and activated with them).
        parts (`TrainableParts`): the modes.
        args (`TrainablePartsArguments`): LoRA hyper-parameters.
        spec (`BackboneSpec`, *optional*): defaults to the registry entry of ``model.config``.
        activation_checkpointing (`bool`, *optional*, defaults to `False`): the Trainer will checkpoint activations.

    Returns:
        `peft.PeftModel` when any group uses LoRA, else ``model`` with ``requires_grad`` set.
    """
    from peft import PeftModel, get_peft_model

    from addressvlm.models import get_backbone

    spec = spec or get_backbone(model.config)
    config = build_lora_config(spec, parts, args)
    frozen_adapters: tuple[str, ...] = ()
    if isinstance(model, PeftModel):
        if config is None:
            raise ValueError("Stacking on an earlier stage's adapter needs a LoRA group in this stage (llm or vision)")
        frozen_adapters = tuple(model.peft_config)
        model.add_adapter("default", config)
        model.base_model.set_adapter(["default", *frozen_adapters])
    elif config is not None:
        model = get_peft_model(model, config)
    set_requires_grad(model, spec, parts, frozen_adapters)
    if not any(param.requires_grad for param in model.parameters()):
        raise ValueError(f"Nothing to train: vision={parts.vision}, projector={parts.projector}, llm={parts.llm}")
    if activation_checkpointing and parts.lora_groups:
        base = model.get_base_model() if isinstance(model, PeftModel) else model
        base.enable_input_require_grads()
    return model


def param_group_learning_rates(parts_args, learning_rate: float) -> dict[str, float]:
    """Learning rate per module group: ``projector_lr`` / ``vision_lr`` where set, else ``learning_rate``."""
    rates = {group: learning_rate for group in (*GROUP_NAMES, "other")}  # groups beyond these use learning_rate
    for group in ("projector", "vision"):
        if getattr(parts_args, f"{group}_lr") is not None:
            rates[group] = getattr(parts_args, f"{group}_lr")
    return rates


def parameter_table(model, spec, parts: TrainableParts, learning_rates: dict[str, float] | None = None) -> list[dict]:
    """Rows ``{group, mode, parameters, trainable, lr}`` per module group plus a ``total`` row.

    ``parameters`` counts the base weights once (not LoRA factors nor ``modules_to_save`` copies); ``trainable``
    counts every parameter that requires grad (LoRA factors and trained copies included).
    """
    rows = {
        group: {"group": group, "mode": parts.mode(group), "parameters": 0, "trainable": 0} for group in parts.groups
    }
    seen: set[int] = set()
    for name, param in model.named_parameters():
        group = spec.group_of(name)
        row = rows.setdefault(group, {"group": group, "mode": "frozen", "parameters": 0, "trainable": 0})
        if id(param) in seen:
            continue
        seen.add(id(param))
        if ".lora_" not in name and ".modules_to_save." not in name:  # base weights, once
            row["parameters"] += param.numel()
        if param.requires_grad:
            row["trainable"] += param.numel()
    table = [row for row in rows.values() if row["parameters"] or row["trainable"]]
    for row in table:
        row["lr"] = learning_rates.get(row["group"]) if learning_rates and row["trainable"] else None
    total = {
        "group": "total",
        "mode": "",
        "parameters": sum(row["parameters"] for row in table),
        "trainable": sum(row["trainable"] for row in table),
        "lr": None,
    }
    return [*table, total]


def format_parameter_table(rows: list[dict]) -> str:
    """The table as aligned text for the start-up log."""
    header = f"{'group':<10} {'mode':<7} {'parameters':>14} {'trainable':>14} {'lr':>10}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lr = f"{row['lr']:.2e}" if row["lr"] is not None else "-"
        lines.append(f"{row['group']:<10} {row['mode']:<7} {row['parameters']:>14,} {row['trainable']:>14,} {lr:>10}")
    return "\n".join(lines)
