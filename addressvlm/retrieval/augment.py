"""Retrieval-augmented questions: evaluation, generation, the probe and training data, with one leak guard.

For each image, the ``k`` nearest and ``dissimilar`` least similar images of an `AddressIndex` are retrieved and
their addresses put before every question of the image (`addressvlm.retrieval.prompts`).

The leak guard: an image's own location must never be retrievable -- its other views would give the answer away.

* Evaluation splits (test, validation) must be **location-disjoint** from the index: `check_no_leak` raises
  `LeakError` when any of their locations is indexed (an index built from the training split of the same VQA set
  passes, since `addressvlm data build-vqa` splits by location).
* Training rows (`write_rag_dataset`'s ``train_splits``) are in the index themselves: each is retrieved with its
  own location excluded (``exclude_own_location``), so training sees what evaluation sees -- other locations only.

Either way every retrieved row is checked against the query's location before it is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..models.conversation import strip_image_placeholder
from .index import AddressIndex
from .prompts import TEMPLATE_VERSION, rag_question, retrieval_hint


__all__ = [
    "LeakError",
    "check_no_leak",
    "evaluate_with_rag",
    "generate_with_rag",
    "hints_by_row",
    "rag_settings",
    "rag_split",
    "retrieve",
    "retrieval_hints",
    "write_rag_dataset",
]

logger = logging.getLogger(__name__)


class LeakError(ValueError):
    """A query image's own location is retrievable from the index."""


def _open(index: AddressIndex | str | os.PathLike) -> AddressIndex:
    return index if isinstance(index, AddressIndex) else AddressIndex.load(index)


def check_no_leak(index: AddressIndex, location_ids: Sequence[str], where: str = "the split") -> None:
    """Assert that no location of ``location_ids`` is in the index (location-disjoint evaluation).

    Raises:
        `LeakError`: naming how many locations overlap, a few of them, and what to do.
    """
    overlap = index.location_overlap(location_ids)
    if overlap:
        shown = ", ".join(overlap[:5]) + (f" and {len(overlap) - 5} more" if len(overlap) > 5 else "")
        raise LeakError(
            f"{len(overlap)} location(s) of {where} are in the index {index.path} ({shown}): their own views would "
            "be retrieved and give the answer away. Build the index from the training split only (location-"
            "disjoint from the evaluation split), e.g. `addressvlm index build VQA_DIR --split train`."
        )


def rag_settings(index: AddressIndex, k: int, dissimilar: int, exclude_own_location: bool = False) -> dict[str, Any]:
    """What a RAG run records (and a resumed evaluation must match): index, encoder, k, dissimilar, template."""
    encoder = index.info["encoder"]
    return {
        "index": str(Path(index.path).resolve()),
        "index_count": len(index),
        "encoder": encoder["spec"],
        "encoder_fingerprint": encoder["fingerprint"],
        "k": int(k),
        "dissimilar": int(dissimilar),
        "exclude_own_location": bool(exclude_own_location),
        "template_version": TEMPLATE_VERSION,
    }


def retrieve(
    index: AddressIndex,
    images: Sequence[str],
    k: int,
    dissimilar: int = 0,
    *,
    location_ids: Sequence[str] | None = None,
    exclude_own_location: bool = False,
    batch_size: int = 32,
    device: str = "cpu",
    show_progress: bool = False,
) -> list[dict[str, Any]]:
    """Retrieve the nearest and the dissimilar index rows of each image.

    Args:
        index (`AddressIndex`): the index.
        images (`Sequence[str]`): query image paths.
        k (`int`): nearest rows per image.
        dissimilar (`int`, *optional*, defaults to 0): least similar rows per image (negated query).
        location_ids (`Sequence[str]`, *optional*): each image's location. Without ``exclude_own_location`` they
            must all be absent from the index (`check_no_leak`); with it, each image's own location is skipped.
        exclude_own_location (`bool`, *optional*, defaults to `False`): for images that are in the index (training).
        batch_size (`int`, *optional*, defaults to 32): images per encoder call.
        device (`str`, *optional*, defaults to ``"cpu"``): where the encoder runs.
        show_progress (`bool`, *optional*, defaults to `False`): a progress bar while embedding.

    Returns:
        `list[dict]`: per image ``{"similar": rows, "similar_scores": cosines, "dissimilar": rows,
        "dissimilar_scores": cosines}`` (row numbers of `index.rows`, best first).

    Raises:
        `LeakError`: a location is in the index (without ``exclude_own_location``), or a retrieved row shares the
        query's location.
    """
    if k < 0 or dissimilar < 0:
        raise ValueError(f"k and dissimilar must be >= 0, got {k} and {dissimilar}")
    if exclude_own_location and location_ids is None:
        raise ValueError("exclude_own_location needs the images' location_ids")
    if location_ids is not None:
        if len(location_ids) != len(images):
            raise ValueError(f"{len(location_ids)} location ids for {len(images)} images")
        if not exclude_own_location:
            check_no_leak(index, location_ids, "the query images")
    vectors = index.embed(images, batch_size=batch_size, device=device, show_progress=show_progress)
    exclude = list(location_ids) if exclude_own_location else None
    near, near_scores = index.search(vectors, k, exclude)
    far, far_scores = index.search(vectors, dissimilar, exclude, dissimilar=True)
    owns = [] if location_ids is None else [str(location) for location in location_ids]
    for image, own, rows in zip(images, owns, zip(near, far)):
        if any(index.locations[r] == own for found in rows for r in found):  # the guard, whatever the index did
            raise LeakError(f"image {image}: a retrieved row shares its location {own!r}")
    keys = ("similar", "similar_scores", "dissimilar", "dissimilar_scores")
    return [dict(zip(keys, found)) for found in zip(near, near_scores, far, far_scores)]


def retrieval_hints(index: AddressIndex, retrieved: Sequence[Mapping[str, Any]]) -> list[str]:
    """The hint text (`addressvlm.retrieval.prompts.retrieval_hint`) of each image's retrieved rows."""
    return [
        retrieval_hint([index.address(r) for r in item["similar"]], [index.address(r) for r in item["dissimilar"]])
        for item in retrieved
    ]


def hints_by_row(
    index: AddressIndex | str | os.PathLike,
    rows: Sequence[Mapping[str, Any]],
    k: int,
    dissimilar: int = 0,
    *,
    split_location_ids: Sequence[str] = (),
    device: str = "cpu",
) -> tuple[dict[str, str], dict[str, Any]]:
    """Hints for a few rows (the probe's), after checking that their whole split is location-disjoint.

    Args:
        index (`AddressIndex` or path): the index.
        rows (`Sequence[Mapping]`): rows with ``id`` and ``image`` (absolute path).
        k (`int`), dissimilar (`int`): the retrieval.
        split_location_ids (`Sequence[str]`): every location of the rows' split (`check_no_leak`).
        device (`str`, *optional*, defaults to ``"cpu"``): where the encoder runs.

    Returns:
        `tuple[dict[str, str], dict]`: row id -> hint, and `rag_settings`.
    """
    index = _open(index)
    check_no_leak(index, [str(loc) for loc in split_location_ids])
    locations = [str(row["location_id"]) for row in rows] if all("location_id" in r for r in rows) else None
    retrieved = retrieve(index, [row["image"] for row in rows], k, dissimilar, location_ids=locations, device=device)
    hints = dict(zip((row["id"] for row in rows), retrieval_hints(index, retrieved)))
    return hints, rag_settings(index, k, dissimilar)


def _with_hint(row: dict, hint: str) -> dict:
    questions = [{**q, "question": rag_question(q["question"], hint)} for q in row["questions"]]
    # human turns: backbone-neutral text (a legacy placeholder is dropped; each processor inserts its own)
    conversations = [
        {**turn, "value": rag_question(strip_image_placeholder(turn["value"]), hint)}
        if turn["from"] == "human"
        else turn
        for turn in row["conversations"]
    ]
    return {"questions": questions, "conversations": conversations}


def rag_split(
    dataset,
    index: AddressIndex | str | os.PathLike,
    k: int,
    dissimilar: int = 0,
    *,
    exclude_own_location: bool = False,
    batch_size: int = 32,
    device: str = "cpu",
    show_progress: bool = True,
):
    """A VQA split whose questions (``questions[*].question`` and the human turns) carry retrieval hints.

    Args:
        dataset (`datasets.Dataset`): a VQA split with absolute image paths (``load_address_dataset(...)[split]``).
        index (`AddressIndex` or path): the index.
        k (`int`): nearest images listed.
        dissimilar (`int`, *optional*, defaults to 0): dissimilar images listed.
        exclude_own_location (`bool`, *optional*, defaults to `False`): `True` for rows that are in the index
            (training); `False` asserts that the split is location-disjoint from the index.
        batch_size, device, show_progress: of the query embedding.

    Returns:
        `tuple[datasets.Dataset, dict]`: the split (same rows and columns) and `rag_settings`.
    """
    index = _open(index)
    for column in ("image", "location_id", "questions", "conversations"):
        if column not in dataset.column_names:
            raise ValueError(f"the split lacks the column {column!r}, which retrieval augmentation needs")
    locations = [str(loc) for loc in dataset["location_id"]]
    addressed = [i for i, loc in enumerate(locations) if loc]  # general VQA rows have no address and no hint
    if not exclude_own_location:
        check_no_leak(index, [locations[i] for i in addressed])
    images = list(dataset["image"])
    retrieved = retrieve(
        index,
        [images[i] for i in addressed],
        k,
        dissimilar,
        location_ids=[locations[i] for i in addressed],
        exclude_own_location=exclude_own_location,
        batch_size=batch_size,
        device=device,
        show_progress=show_progress,
    )
    found = dict(zip(addressed, retrieval_hints(index, retrieved)))
    hints = [found.get(i, "") for i in range(len(dataset))]
    digest = hashlib.sha256("\0".join(hints).encode("utf-8")).hexdigest()[:16]
    augmented = dataset.map(
        lambda row, i: _with_hint(row, hints[i]),
        with_indices=True,
        new_fingerprint=f"{dataset._fingerprint}-rag-{digest}",  # no hashing of the hints through the lambda
        keep_in_memory=True,  # never write cache files into the dataset folder
        load_from_cache_file=False,
        desc="retrieval hints",
    )
    return augmented, rag_settings(index, k, dissimilar, exclude_own_location)


def write_rag_dataset(
    vqa_dir: str | os.PathLike,
    index: AddressIndex | str | os.PathLike,
    output_dir: str | os.PathLike,
    k: int,
    dissimilar: int = 0,
    *,
    train_splits: Sequence[str] = ("train",),
    batch_size: int = 32,
    device: str = "cpu",
    overwrite: bool = False,
    show_progress: bool = True,
):
    """Write a copy of a VQA dataset whose questions carry retrieval hints (training with retrieval).

    Rows of ``train_splits`` retrieve with their own location excluded; every other split must be location-disjoint
    from the index (`LeakError` otherwise). Schema, ids, answers and image paths are unchanged, so the folder trains
    with ``recipes/stage2.py --dataset_paths`` and evaluates like any VQA set; ``build_info.json`` gains ``rag``.

    Args:
        vqa_dir (`str` or `os.PathLike`): the VQA dataset folder.
        index (`AddressIndex` or path): the index (normally built from ``vqa_dir``'s train split).
        output_dir (`str` or `os.PathLike`): the new dataset folder (written atomically).
        k (`int`), dissimilar (`int`, *optional*): as in `rag_split`.
        train_splits (`Sequence[str]`, *optional*, defaults to ``("train",)``): splits that are in the index.
        batch_size, device, show_progress: of the query embedding.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing ``output_dir``.

    Returns:
        `Path`: ``output_dir``.
    """
    from datasets import DatasetDict

    from addressvlm.data import load_address_dataset
    from addressvlm.data.storage import (
        _resolve_image_root,
        check_dataset_kind,
        load_dataset_dict,
        read_build_info,
        save_dataset_dict,
    )
    from addressvlm.utils.io import check_not_an_input, check_output_dir

    index = _open(index)
    check_output_dir(output_dir, overwrite)
    check_not_an_input(output_dir, [vqa_dir, index.path])
    check_dataset_kind(vqa_dir, ["vqa"], "retrieval-augmented training data")
    info = read_build_info(vqa_dir)
    raw, absolute = load_dataset_dict(vqa_dir), load_address_dataset(vqa_dir)
    result, settings = DatasetDict(), {}
    embedding = dict(batch_size=batch_size, device=device, show_progress=show_progress)
    for name, split in absolute.items():
        if split.num_rows == 0:
            result[name] = raw[name]
            continue
        exclude = name in train_splits
        augmented, settings[name] = rag_split(split, index, k, dissimilar, exclude_own_location=exclude, **embedding)
        # keep the stored (relative) image paths: the folder stays relocatable like the original
        result[name] = (
            augmented.remove_columns("image")
            .add_column("image", list(raw[name]["image"]))
            .select_columns(raw[name].column_names)
        )
    record = {k_: v for k_, v in info.items() if k_ not in ("image_root", "image_root_absolute", "format_version")}
    record["rag"] = {"source": str(Path(vqa_dir).resolve()), "splits": settings}
    root = _resolve_image_root(Path(vqa_dir), info, None)
    return save_dataset_dict(result, output_dir, record, root, overwrite=overwrite)


def evaluate_with_rag(
    model,
    processor,
    dataset,
    output_dir: str | os.PathLike,
    index: AddressIndex | str | os.PathLike,
    k: int,
    dissimilar: int = 0,
    *,
    device: str = "cpu",
    run_info: Mapping[str, Any] | None = None,
    **kwargs,
) -> dict[str, Any]:
    """`addressvlm.inference.evaluate_model` with retrieval hints in every question (Python API of ``eval --rag``).

    The split must be location-disjoint from the index. The RAG settings are recorded in ``eval_settings.json``
    and ``metrics.json`` (``rag``), so a resumed run with other settings is refused.

    Args:
        model, processor, dataset, output_dir: as in `evaluate_model`.
        index (`AddressIndex` or path), k (`int`), dissimilar (`int`): the retrieval.
        device (`str`, *optional*, defaults to ``"cpu"``): where the index's encoder runs.
        run_info (`Mapping`, *optional*): more settings to record.
        **kwargs: the other arguments of `evaluate_model` (batch_size, limit, ...).
    """
    from addressvlm.inference import evaluate_model

    limit = kwargs.get("limit")
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    augmented, settings = rag_split(
        dataset, index, k, dissimilar, device=device, show_progress=kwargs.get("show_progress", True)
    )
    return evaluate_model(
        model, processor, augmented, output_dir, run_info={**dict(run_info or {}), "rag": settings}, **kwargs
    )


def generate_with_rag(
    model,
    processor,
    images: Sequence[str],
    questions: Sequence[str],
    index: AddressIndex | str | os.PathLike,
    k: int,
    dissimilar: int = 0,
    *,
    location_ids: Sequence[str] | None = None,
    device: str = "cpu",
    **kwargs,
) -> list[str]:
    """`addressvlm.inference.generate_answers` with retrieval hints before each question.

    Args:
        model, processor: the VLM.
        images (`Sequence[str]`): one image path per question.
        questions (`Sequence[str]`): the questions.
        index (`AddressIndex` or path), k (`int`), dissimilar (`int`): the retrieval.
        location_ids (`Sequence[str]`, *optional*): the images' locations, checked against the index (leak guard).
        device (`str`, *optional*, defaults to ``"cpu"``): where the index's encoder runs.
        **kwargs: the other arguments of `generate_answers` (max_new_tokens, batch_size, ...).
    """
    from addressvlm.inference import generate_answers

    index = _open(index)
    retrieved = retrieve(index, images, k, dissimilar, location_ids=location_ids, device=device)
    hinted = [rag_question(q, hint) for q, hint in zip(questions, retrieval_hints(index, retrieved))]
    return generate_answers(model, processor, images, hinted, **kwargs)
