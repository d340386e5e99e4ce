"""Automatic alignment-label generation for stage 1 (AddressVLM section 2.2) and GeoReasoner reasoning labels.

An off-the-shelf LVLM is shown an image and a prompt carrying the reference address; it writes why the image
matches that address. Labels are validated (they must name the reference street and district and must not give
another street as the answer), retried, replaced by a templated reason when they keep failing, and cached in a
crash-safe JSONL so interrupted runs resume.

Label format of a completed stage-1 row (``docs/data_format.md`` §3): ``reason`` holds the accepted model text
(whitespace collapsed) or the templated reason, ``label_source`` is ``model`` or ``template``, and
``conversations`` is ``[{"from": "human", "value": "{question}"}, {"from": "gpt", "value":
"{answer}. {reason}"}]`` (the target template ``prompts/target.txt``), e.g. ``"Aleksanterinkatu, Kluuvi. The
street view was taken on Aleksanterinkatu in Kluuvi: ..."``. GeoReasoner rows use the district as ``answer``.

Attributes load lazily, so ``addressvlm --help`` (which imports ``addressvlm.labels.cli``) stays fast; torch,
transformers and datasets load only when a backend or the pipeline runs.
"""

from __future__ import annotations

import importlib


_LAZY = {
    "BackendError": "addressvlm.labels.backends",
    "LabelBackend": "addressvlm.labels.backends",
    "LabelRequest": "addressvlm.labels.backends",
    "LabelResult": "addressvlm.labels.backends",
    "LocalBackend": "addressvlm.labels.backends",
    "OpenAIChatBackend": "addressvlm.labels.backends",
    "LabelCache": "addressvlm.labels.cache",
    "image_fingerprint": "addressvlm.labels.keys",
    "item_key": "addressvlm.labels.keys",
    "NameMatcher": "addressvlm.labels.names",
    "normalize_name": "addressvlm.labels.names",
    "default_cache_path": "addressvlm.labels.pipeline",
    "label_dataset": "addressvlm.labels.pipeline",
    "LabelReport": "addressvlm.labels.report",
    "BackendOptions": "addressvlm.labels.options",
    "GenerationSettings": "addressvlm.labels.options",
    "LabelRunOptions": "addressvlm.labels.options",
    "TemplateFiles": "addressvlm.labels.options",
    "LabelItem": "addressvlm.labels.runner",
    "LabelOutcome": "addressvlm.labels.runner",
    "LabelRunner": "addressvlm.labels.runner",
    "ALIGNMENT": "addressvlm.labels.tasks",
    "GEOREASONER": "addressvlm.labels.tasks",
    "LabelTask": "addressvlm.labels.tasks",
    "PromptTemplate": "addressvlm.labels.templates",
    "TaskTemplates": "addressvlm.labels.templates",
    "default_template_path": "addressvlm.labels.templates",
    "load_task_templates": "addressvlm.labels.templates",
    "LabelValidator": "addressvlm.labels.validation",
    "ValidationResult": "addressvlm.labels.validation",
    "clean_label_text": "addressvlm.labels.validation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'addressvlm.labels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
