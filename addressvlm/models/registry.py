"""Backbone registry: the one place that knows each model family's module names and loaders.

Recipes, trainable-parts setup, LoRA targeting and the evaluation runner ask the registry instead of hard-coding
module paths, so a second backbone (MiniCPM-V 2.6: SigLIP + resampler + Qwen2) slots in by adding one
:class:`BackboneSpec`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


__all__ = ["BackboneSpec", "get_backbone", "list_backbones", "register_backbone"]


@dataclass(frozen=True)
class BackboneSpec:
    """What the library needs to know about a model family.

    Args:
        name (`str`): registry key, e.g. ``"llava_phi3"``.
        model_types (`tuple[str, ...]`): ``config.model_type`` values this backbone loads (including stock layouts
            that :func:`addressvlm.models.load_pretrained` converts).
        module_groups (`dict[str, str]`): trainable-part name -> module path prefix in the model
            (``vision``, ``projector``, ``llm``, ``lm_head``).
        lora_target_modules (`str`): regex of LLM linear layers for LoRA, anchored to the language model so it never
            matches the vision tower's ``q_proj/k_proj/v_proj``.
        vision_lora_target_modules (`str`): regex of vision-tower linear layers, for vision LoRA.
        loader (`Callable`): ``loader(path, **kwargs) -> (model, processor)``.
        stop_tokens (`tuple[str, ...]`): tokens that end an answer.
    """

    name: str
    model_types: tuple[str, ...]
    module_groups: dict[str, str]
    lora_target_modules: str
    vision_lora_target_modules: str
    loader: Callable
    stop_tokens: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def group_of(self, parameter_name: str) -> str:
        """The module group a parameter belongs to (``"other"`` if none); PEFT wrapper prefixes are ignored."""
        name = parameter_name
        for prefix in ("base_model.model.", "module."):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        for group, prefix in self.module_groups.items():
            if name == prefix or name.startswith(prefix + "."):
                return group
        return "other"


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> None:
    """Add a backbone; later registrations of the same name replace earlier ones."""
    _REGISTRY[spec.name] = spec


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def get_backbone(name_or_config) -> BackboneSpec:
    """Look a backbone up by registry name, by ``model_type``, or from a config object."""
    key = getattr(name_or_config, "model_type", name_or_config)
    if key in _REGISTRY:
        return _REGISTRY[key]
    for spec in _REGISTRY.values():
        if key in spec.model_types:
            return spec
    raise KeyError(f"Unknown backbone {key!r}; registered: {list_backbones()}")
