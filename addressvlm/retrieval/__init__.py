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

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "index": ["AddressIndex", "IndexSpec", "add_to_index", "build_index", "embed_images"],
        "encoders": ["DEFAULT_ENCODER", "OFFLINE_ENCODER", "ImageEncoder", "load_encoder", "parse_encoder_spec"],
        "augment": [
            "LeakError",
            "check_no_leak",
            "evaluate_with_rag",
            "generate_with_rag",
            "rag_settings",
            "rag_split",
            "retrieve",
            "retrieval_hints",
            "write_rag_dataset",
        ],
        "prompts": ["rag_question", "retrieval_hint"],
        "knn": ["evaluate_knn", "knn_answer"],
        "sources": ["read_source_rows"],
    },
)
