"""The retrieval-only baseline: answer every question by the majority vote of the ``k`` nearest training images.

No language model is involved; the answers are scored by the same ``address_accuracy`` metric as the VLMs, so the
row is the floor a VLM (with or without retrieval) has to beat. Per question type:

* generation -- the most frequent district, street, or ``"street, district"`` pair among the neighbours;
* judgement -- ``Yes`` when the name asked about (read from the question) is the neighbours' most frequent name of
  that level, else ``No``;
* multiple choice -- the letter of the option named by the most neighbours; ``A`` when no neighbour names any.

Ties go to the name whose best-ranked neighbour comes first. Names are compared after the metric's normalisation.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from addressvlm.data.templates import JUDGEMENT_SUFFIX, MC_LETTERS

from .augment import rag_settings, retrieve
from .index import AddressIndex


__all__ = ["evaluate_knn", "knn_answer", "vote"]

_JUDGEMENT = {
    level: re.compile(re.escape(suffix).replace(re.escape("{name}"), "(?P<name>.+?)"), re.IGNORECASE)
    for level, suffix in JUDGEMENT_SUFFIX.items()
}


def vote(names: Sequence[str], normalise=lambda s: s) -> list[tuple[str, int]]:
    """Names ranked by how often they occur (ties: first occurrence first), each with its count.

    Args:
        names (`Sequence[str]`): the neighbours' names, nearest first.
        normalise (`Callable`, *optional*): the form names are counted under (the first spelling is returned).
    """
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(normalise(name), name)
    return [(first[form], count) for form, count in Counter(map(normalise, names)).most_common()]


def knn_answer(question: Mapping[str, Any], streets: Sequence[str], districts: Sequence[str], normalise=None) -> str:
    """The k-NN answer to one question from its image's neighbours.

    Args:
        question (`Mapping`): ``question``, ``level``, ``type`` and ``options`` (the VQA ``questions`` entry).
        streets (`Sequence[str]`): the neighbours' streets, nearest first.
        districts (`Sequence[str]`): their districts.
        normalise (`Callable`, *optional*): ``normalise(text, level)``, the metric's ``normalize_address``.

    Returns:
        `str`: the answer, in the form the metric scores (a name, ``"street, district"``, Yes/No or a letter).
    """
    normalise = normalise or (lambda text, level="street": " ".join(str(text).casefold().split()))
    level, kind = question["level"], question["type"]
    if not streets:
        return ""
    if level == "street_district":
        ranked = vote([f"{s}, {d}" for s, d in zip(streets, districts)], lambda s: normalise(s, "street"))
        return ranked[0][0]
    names = streets if level == "street" else districts
    ranked = vote(names, lambda s: normalise(s, level))
    if kind == "generation":
        return ranked[0][0]
    if kind == "judgement":
        top = normalise(ranked[0][0], level)
        found = _JUDGEMENT.get(level) and _JUDGEMENT[level].search(question["question"])
        if found:
            return "Yes" if normalise(found.group("name"), level) == top else "No"
        text = f" {normalise(question['question'], level)} "
        return "Yes" if f" {top} " in text else "No"
    if kind == "multiple_choice":
        counts = {normalise(name, level): count for name, count in ranked}
        order = {normalise(name, level): i for i, (name, _) in enumerate(ranked)}
        options = list(question.get("options") or [])
        scored = [
            (-counts.get(normalise(o, level), 0), order.get(normalise(o, level), len(order)), i)
            for i, o in enumerate(options)
        ]
        return MC_LETTERS[min(scored)[2]] if scored else MC_LETTERS[0]
    raise ValueError(f"unknown question type {kind!r}")


def evaluate_knn(
    index: AddressIndex | str | os.PathLike,
    dataset,
    output_dir: str | os.PathLike,
    k: int = 16,
    *,
    limit: int | None = None,
    metric_path: str | os.PathLike | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Answer a VQA split by k-NN vote and score it like `evaluate_model` (predictions JSONL + metrics JSON).

    Args:
        index (`AddressIndex` or path): the index; the split must be location-disjoint from it.
        dataset (`datasets.Dataset`): the split (absolute image paths).
        output_dir (`str` or `os.PathLike`): where ``predictions.jsonl`` and ``metrics.json`` go (rewritten).
        k (`int`, *optional*, defaults to 16): neighbours that vote.
        limit (`int`, *optional*): only the first ``limit`` rows.
        metric_path (`str` or `os.PathLike`, *optional*): the ``address_accuracy`` folder.
        batch_size (`int`, *optional*, defaults to 32): images per encoder call.
        device (`str`, *optional*, defaults to ``"cpu"``): where the encoder runs.
        show_progress (`bool`, *optional*, defaults to `True`): a bar while embedding.

    Returns:
        `dict`: the metric's scores plus ``eval`` (settings and counts) and ``timing``, as `evaluate_model` returns.
    """
    from addressvlm.inference.metric import load_address_accuracy, metric_functions, score_records
    from addressvlm.inference.runner import collect_questions
    from addressvlm.utils.io import atomic_write_json, atomic_write_jsonl, ensure_output_dir

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    index = index if isinstance(index, AddressIndex) else AddressIndex.load(index)
    folder = ensure_output_dir(output_dir)
    metric = load_address_accuracy(metric_path)
    functions = metric_functions(metric)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    images, questions = collect_questions(dataset, None, functions.LEVELS, functions.QUESTION_TYPES)
    start = time.perf_counter()
    retrieved = retrieve(
        index,
        images,
        k,
        location_ids=[str(x) for x in dataset["location_id"]],
        batch_size=batch_size,
        device=device,
        show_progress=show_progress,
    )
    records = []
    for q in questions:
        similar = retrieved[q.image_index]["similar"]
        streets, districts = list(index.streets[similar]), list(index.districts[similar])
        entry = {"question": q.question, "level": q.level, "type": q.type, "options": list(q.options)}
        answer = knn_answer(entry, streets, districts, functions.normalize_address)
        records.append(q.record(answer, neighbours=[index.address(r) for r in similar]))
    seconds = time.perf_counter() - start
    scores, scored = score_records(metric, questions, records)
    atomic_write_jsonl(folder / "predictions.jsonl", scored)
    result = {
        **scores,
        "eval": {
            "model": "k-NN retrieval",
            "decoding": "k-NN majority vote",
            "rag": rag_settings(index, k, 0),
            "n_images": len(images),
            "n_questions": len(questions),
            "n_failed": 0,
            "failed_images": [],
            "batch_size": batch_size,
        },
        "timing": {
            "seconds": round(seconds, 3),
            "questions_per_second": round(len(questions) / seconds, 3) if seconds else None,
        },
    }
    atomic_write_json(folder / "metrics.json", result)
    return result
