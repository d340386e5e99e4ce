"""Retrieval augmentation: an image index of training images and their addresses, retrieval hints in questions,
and the k-NN baseline.

* `build_index` / `add_to_index` / `AddressIndex` -- a FAISS index (inner product on L2-normalised vectors) of
  image embeddings plus a `datasets` table of each image's address (``addressvlm index build | add | info``);
* encoders -- any Hugging Face ``get_image_features`` model (SigLIP by default), the pooled vision tower of one of
  our checkpoints, and the offline EfficientNet-Lite0 (`load_encoder`);
* `rag_split`, `evaluate_with_rag`, `generate_with_rag`, `write_rag_dataset` -- the addresses of the nearest and
  of dissimilar images put before each question (``addressvlm eval --rag``, ``probe --rag``,
  ``addressvlm index augment``), with the leak guard (`check_no_leak`);
* `evaluate_knn` -- answers by the neighbours' majority vote (``addressvlm index knn``).

Submodules load lazily: ``import addressvlm.retrieval`` imports neither faiss nor torch. See ``docs/retrieval.md``.
"""

import importlib


_LAZY = {
    "AddressIndex": "index",
    "IndexSpec": "index",
    "add_to_index": "index",
    "build_index": "index",
    "embed_images": "index",
    "DEFAULT_ENCODER": "encoders",
    "OFFLINE_ENCODER": "encoders",
    "ImageEncoder": "encoders",
    "load_encoder": "encoders",
    "parse_encoder_spec": "encoders",
    "LeakError": "augment",
    "check_no_leak": "augment",
    "evaluate_with_rag": "augment",
    "generate_with_rag": "augment",
    "rag_settings": "augment",
    "rag_split": "augment",
    "retrieve": "augment",
    "retrieval_hints": "augment",
    "write_rag_dataset": "augment",
    "rag_question": "prompts",
    "retrieval_hint": "prompts",
    "evaluate_knn": "knn",
    "knn_answer": "knn",
    "read_source_rows": "sources",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
