"""The quickstart's retrieval rows: an EfficientNet-Lite0 index of the training images, the k-NN baseline, and the
three models evaluated again with retrieval hints (plus, with ``--rag-training``, a stage 2 trained on hinted
questions).

`run_rag_rows` adds these steps to a quickstart run (each skipped when its output exists); `rag_rows` names the
rows of the comparison table whose evaluations exist. ``k`` = 8 was chosen on the validation split of a tuning
city by the k-NN baseline's mean accuracy (k = 1, 4, 8, 16, 32 gave Ā 72.8, 75.4, 77.0, 76.7, 75.8).
"""

from __future__ import annotations

from pathlib import Path


__all__ = ["RAG_DISSIMILAR", "RAG_K", "RAG_ROWS", "TRAINED_ROW", "rag_rows", "rag_step_count", "run_rag_rows"]

RAG_K = 8
"""Nearest training images listed in each question (and voting in the k-NN row)."""

RAG_DISSIMILAR = 4
"""Dissimilar training images listed in each question."""

ENCODER = "efficientnet-lite0"

RAG_ROWS = (
    ("knn", f"k-NN retrieval (EfficientNet-Lite0, k={RAG_K})"),
    ("zero_shot_rag", "Zero-shot + RAG"),
    ("baseline_rag", "Baseline + RAG"),
    ("addressvlm_rag", "AddressVLM + RAG"),
)
"""(evaluation folder, row title) of the retrieval rows, in table order."""

TRAINED_ROW = ("rag_trained", "Baseline trained with RAG (stage 2 on hinted questions) + RAG")
"""The row of ``--rag-training``: stage 2 from the base model on questions that carry retrieval hints."""


def rag_step_count(rag_training: bool) -> int:
    """Steps `run_rag_rows` adds to the quickstart's count."""
    return len(RAG_ROWS) + 1 + (3 if rag_training else 0)


def rag_rows(out: Path) -> tuple[tuple[str, str], ...]:
    """The retrieval rows of the comparison whose ``eval/<key>/metrics.json`` exists."""
    rows = (*RAG_ROWS, TRAINED_ROW)
    return tuple(row for row in rows if (Path(out) / "eval" / row[0] / "metrics.json").is_file())


def _evaluate_rag(options, model: Path, vqa: Path, index: Path, output: Path, name: str) -> None:
    from addressvlm.quickstart import _evaluate

    rag = ["--rag", index, "--rag-k", RAG_K, "--rag-dissimilar", RAG_DISSIMILAR]
    _evaluate(options, model, vqa, output, name, "test", *rag)


def run_rag_rows(options, space, steps, part: str = "all") -> None:
    """Index the training images, answer by k-NN, evaluate zero-shot / Baseline / AddressVLM with retrieval hints
    and, with ``options.rag_training``, train and evaluate a stage 2 on hinted questions.

    Args:
        options (`QuickstartOptions`): the run's settings (``eval_limit``, ``progress``, ``rag_training`` ...).
        space (`Workspace`): its folders; the models of the rows run must exist.
        steps (`_Steps`): the quickstart's step runner.
        part (`str`, *optional*, defaults to `"all"`): ``"without-addressvlm"``: the index, k-NN, zero-shot and
            Baseline rows (the quickstart runs them beside stage 1); ``"addressvlm"``: the AddressVLM row and the
            ``--rag-training`` row; ``"all"``: both, in that order.
    """
    from addressvlm.quickstart import _cli, _recipe, recipe_args

    if part not in ("all", "without-addressvlm", "addressvlm"):
        raise ValueError(f"part must be 'all', 'without-addressvlm' or 'addressvlm', got {part!r}")
    out, vqa, runs = space.out, space.vqa, space.runs
    index, evals = out / "index", out / "eval"
    quiet = [] if options.progress else ["--no-progress"]
    models = {"zero_shot_rag": space.base, "baseline_rag": runs / "baseline", "addressvlm_rag": runs / "addressvlm"}
    if part in ("all", "without-addressvlm"):
        steps.run(f"index: embed the training images ({ENCODER}) into a FAISS index", index / "index_info.json",
                  _cli, "index", "build", vqa, "--split", "train", "--encoder", ENCODER, "--output", index,
                  *quiet)  # fmt: skip
        knn = ["index", "knn", index, "--dataset", vqa, "--output-dir", evals / "knn", "--k", RAG_K]
        knn += ["--limit", options.eval_limit] if options.eval_limit else []
        steps.run(f"knn: answer by the majority vote of the {RAG_K} nearest training images", evals / "knn" /
                  "metrics.json", _cli, *knn, *quiet)  # fmt: skip
    keys = {"without-addressvlm": ("zero_shot_rag", "baseline_rag"), "addressvlm": ("addressvlm_rag",)}
    keys = keys.get(part, tuple(models))
    for key, title in RAG_ROWS[1:]:
        if key in keys:
            steps.run(f"{key}: evaluate with retrieval hints ({RAG_K} similar, {RAG_DISSIMILAR} dissimilar)",
                      evals / key / "metrics.json", _evaluate_rag, options, models[key], vqa, index, evals / key,
                      title)  # fmt: skip
    if part == "without-addressvlm" or not options.rag_training:
        return
    hinted = out / "data" / "vqa_rag"
    steps.run("rag-data: training questions with retrieval hints (each image's own location excluded)",
              hinted / "build_info.json", _cli, "index", "augment", index, "--dataset", vqa, "--output", hinted,
              "--rag-k", RAG_K, "--rag-dissimilar", RAG_DISSIMILAR, *quiet)  # fmt: skip
    steps.run("rag-trained: stage 2 only, on the hinted questions (recipes/stage2.py)",
              runs / "rag_trained" / "train_results.json", _recipe, 2, runs / "rag_trained.log",
              "--model_name_or_path", space.base, "--init_from", "", "--dataset_paths", hinted,
              "--output_dir", runs / "rag_trained", "--num_train_epochs", options.stage2_epochs,
              *recipe_args(options), backbone=options.backbone)  # fmt: skip
    steps.run("rag-trained: evaluate with retrieval hints", evals / TRAINED_ROW[0] / "metrics.json", _evaluate_rag,
              options, runs / "rag_trained", vqa, index, evals / TRAINED_ROW[0], TRAINED_ROW[1])  # fmt: skip
