"""Automatic alignment-label generation for stage 1 (AddressVLM section 2.2) and GeoReasoner reasoning labels.

An off-the-shelf LVLM is shown an image and a prompt carrying the reference address; it writes why the image
matches that address. Labels are validated (they must name the reference street and district and must not give
another street as the answer), retried, replaced by a templated reason when they keep failing, and cached in a
crash-safe JSONL so interrupted runs resume.

A completed stage-1 row (``docs/data_format.md`` §3) holds the accepted model text or the templated reason in
``reason``, ``label_source`` ``model`` or ``template``, and the target ``"{answer}. {reason}"``
(``prompts/target.txt``) as its ``gpt`` turn; GeoReasoner rows use the district as ``answer``.

Attributes load lazily, so ``addressvlm --help`` (which imports ``addressvlm.labels.cli``) stays fast; torch,
transformers and datasets load only when a backend or the pipeline runs.
"""

from __future__ import annotations

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "backends": [
            "BackendError",
            "LabelBackend",
            "LabelRequest",
            "LabelResult",
            "LocalBackend",
            "OpenAIChatBackend",
        ],
        "cache": ["LabelCache", "image_fingerprint", "item_key"],
        "pipeline": ["ALIGNMENT", "GEOREASONER", "LabelTask", "default_cache_path", "label_dataset"],
        "options": ["BackendOptions", "GenerationSettings", "LabelRunOptions", "TemplateFiles"],
        "runner": ["LabelItem", "LabelOutcome", "LabelReport", "LabelRunner"],
        "templates": ["PromptTemplate", "TaskTemplates", "default_template_path", "load_task_templates"],
        "validation": ["LabelValidator", "NameMatcher", "ValidationResult", "clean_label_text", "normalize_name"],
    },
)
