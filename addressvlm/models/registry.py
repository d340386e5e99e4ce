"""Backbone registry: the one place that knows each model family.

A backbone is a subpackage of `addressvlm.models` (``llava_phi3/``, ``minicpmv/``) that registers one
:class:`BackboneSpec` when it is imported. Everything outside the subpackage -- the collator, the length column,
trainable parts, the recipes, evaluation, the probe, merge/export, the model card, the tiny-model command and the
quickstart -- asks the spec (and the processor it loads, see `addressvlm.models.protocol.BackboneProcessor`) instead of
naming a backbone. ``docs/architecture.md`` lists the steps of adding one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


__all__ = ["BackboneSpec", "Exporter", "get_backbone", "list_backbones", "register_backbone"]


@dataclass(frozen=True)
class Exporter:
    """A serving layout a merged model can be written in (``addressvlm merge --layout NAME``).

    Args:
        name (`str`): the layout name on the command line, e.g. ``"llava-hf"``.
        write (`Callable`): ``write(model, processor, output_dir) -> Path``; ``model`` is a plain (merged) model.
        description (`str`): one line for ``--help`` and the model card (which loader serves the result).
    """

    name: str
    write: Callable
    description: str = ""


@dataclass(frozen=True)
class BackboneSpec:
    r"""
    What the library needs to know about a model family. Registered by the family's own subpackage.

    Args:
        name (`str`):
            Registry key and the ``--backbone`` value, e.g. ``"llava_phi3"``.
        display_name (`str`):
            For tables and model cards, e.g. ``"LLaVA-Phi-3-mini"``.
        model_types (`tuple[str, ...]`):
            ``config.model_type`` values this backbone loads: ours, and the published layouts its loader converts.
        module_groups (`dict[str, str]`):
            Module group -> module path prefix. ``vision``, ``projector`` and ``llm`` are chosen by the trainable-parts
            arguments; other groups follow a chosen one (``group_follows``) or stay frozen. Prefixes may nest (the
            longest match wins, see :meth:`group_of`).
        lora_target_modules (`str`):
            Regex (full match) of the LLM linear layers for ``llm: lora``, anchored to the language model.
        vision_lora_target_modules (`str`):
            Regex of the vision-tower linear layers for ``vision: lora``.
        loader (`Callable`):
            ``loader(path, torch_dtype=None, attn_implementation=None, processor_path=None, **kwargs)`` ->
            ``(model, processor)`` for any ``model_types`` checkpoint folder (`load_pretrained` then sets the
            generation stop tokens).
        processor_class (`type`):
            The processor class saved with outputs; `addressvlm.models.has_saved_processor` recognises it.
        build_tiny (`Callable`):
            ``build_tiny(**sizes) -> (model, processor)``: a tiny random model, offline and deterministic.
        save_tiny (`Callable`):
            ``save_tiny(path, layout="ours", **sizes) -> str``: write a tiny checkpoint (``tiny_layouts`` choose the
            published layouts too).
        tiny_layouts (`tuple[str, ...]`, *optional*, defaults to `("ours",)`):
            Layouts ``save_tiny`` writes.
        exporters (`tuple[Exporter, ...]`, *optional*):
            Serving layouts for ``addressvlm merge`` besides ours (``addressvlm``, always available).
        group_follows (`dict[str, str]`, *optional*, defaults to `{"lm_head": "llm"}`):
            Group -> the group whose ``full`` mode it follows (frozen otherwise).
        default_max_text_length (`int`, *optional*, defaults to 1472):
            Text tokens per training example when the config does not say (image tokens are not counted).
        supports_prefix_cache (`bool`, *optional*, defaults to `False`):
            Whether `addressvlm.inference.SharedPrefixAnswerer` applies: the image's block of tokens comes before the
            question (its length may depend on the image) and the model takes ``past_key_values`` with the image
            processor's outputs. Otherwise evaluation and the probe use plain batched ``generate``.
        card_tags (`tuple[str, ...]`, *optional*):
            Model-card tags.
    """

    name: str
    display_name: str
    model_types: tuple[str, ...]
    module_groups: dict[str, str]
    lora_target_modules: str
    vision_lora_target_modules: str
    loader: Callable
    processor_class: type
    build_tiny: Callable
    save_tiny: Callable
    tiny_layouts: tuple[str, ...] = ("ours",)
    exporters: tuple[Exporter, ...] = ()
    group_follows: dict[str, str] = field(default_factory=lambda: {"lm_head": "llm"})
    default_max_text_length: int = 1472
    supports_prefix_cache: bool = False
    card_tags: tuple[str, ...] = ()

    def __post_init__(self):
        for required in ("vision", "projector", "llm"):
            if required not in self.module_groups:
                raise ValueError(f"Backbone {self.name!r}: module_groups lacks the {required!r} group")
        prefixes = list(self.module_groups.values())
        if len(set(prefixes)) != len(prefixes):
            raise ValueError(f"Backbone {self.name!r}: two module groups share a prefix: {self.module_groups}")
        for group, leader in self.group_follows.items():
            if group not in self.module_groups or leader not in self.module_groups:
                raise ValueError(f"Backbone {self.name!r}: group_follows {group!r} -> {leader!r} names no group")

    @property
    def group_names(self) -> tuple[str, ...]:
        """The module groups, in registration order."""
        return tuple(self.module_groups)

    def group_of(self, parameter_name: str) -> str:
        """The module group of a parameter (``"other"`` if none): the group with the longest matching prefix, so
        nested prefixes (``llm`` and ``llm.lm_head``) classify correctly. PEFT wrapper prefixes are ignored."""
        name = parameter_name
        for prefix in ("base_model.model.", "module."):
            name = name.removeprefix(prefix)
        best, length = "other", -1
        for group, prefix in self.module_groups.items():
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > length:
                best, length = group, len(prefix)
        return best

    def exporter(self, layout: str) -> Exporter:
        """The exporter named ``layout``; a `ValueError` lists this backbone's layouts otherwise."""
        for exporter in self.exporters:
            if exporter.name == layout:
                return exporter
        names = ["addressvlm", *(e.name for e in self.exporters)]
        raise ValueError(f"layout {layout!r} is not one of {self.display_name}'s layouts: {names}")


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> None:
    """Add a backbone (called by its subpackage on import); a later registration of the same name replaces it.

    Raises:
        `ValueError`: another backbone already claims one of its ``model_types``.
    """
    for other in _REGISTRY.values():
        shared = set(other.model_types) & set(spec.model_types)
        if other.name != spec.name and shared:
            raise ValueError(f"Backbones {other.name!r} and {spec.name!r} both claim model_type(s) {sorted(shared)}")
    _REGISTRY[spec.name] = spec


def list_backbones() -> list[str]:
    """Registered backbone names."""
    return sorted(_REGISTRY)


def get_backbone(name_or_config) -> BackboneSpec:
    """Look a backbone up by registry name, by ``model_type``, or from a config object (a PEFT model's base
    config too)."""
    key = getattr(name_or_config, "model_type", name_or_config)
    if key in _REGISTRY:
        return _REGISTRY[key]
    for spec in _REGISTRY.values():
        if key in spec.model_types:
            return spec
    raise KeyError(f"Unknown backbone {key!r}; registered: {list_backbones()}")
