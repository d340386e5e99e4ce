"""GeoReasoner's prompt and JSON answers (Li et al., 2024), narrowed from country / city to district / street.

GeoReasoner tunes two LoRAs, the second stacked on the first, with one prompt family:

* **reasoning tuning** (stage A): `REASONING_QUESTION` -> ``{"district": ..., "street": ..., "reasons": ...}``, on
  the reasoning labels ``addressvlm data label-georeasoner`` writes (district-level reasons, AddressVLM appendix C);
* **location tuning** (stage B): "a similar prompt format ... but without a reasoning requirement":
  `LOCATION_QUESTION` -> ``{"district": ..., "street": ...}``, on the (locatability-filtered) address VQA; judgement
  and multiple-choice turns stay as they are.

`write_georeasoner_set` turns a labelled GeoReasoner set or a VQA set into those formats (``addressvlm data
georeasoner-format``); evaluation asks `REASONING_QUESTION` for every generation question and parses the JSON
(`addressvlm.inference.georeasoner`). Targets are written with `json.dumps`, so a quote in a reason stays valid JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


__all__ = [
    "JSON_KEYS",
    "LOCATION_QUESTION",
    "REASONING_QUESTION",
    "georeasoner_json",
    "is_location_question",
    "location_tuning_row",
    "reasoning_row",
    "write_georeasoner_set",
]

REASONING_QUESTION = (
    "According to the content of the image, please think step by step and deduce in which district and on which "
    "street the image was most likely taken, and offer possible explanations. Output in JSON format, e.g., "
    "{'district': '', 'street': '', 'reasons': ''}."
)
"""GeoReasoner's prompt (its ``infer.py`` and paper) with district and street for country and city."""

LOCATION_QUESTION = (
    "According to the content of the image, deduce in which district and on which street the image was most likely "
    "taken. Output in JSON format, e.g., {'district': '', 'street': ''}."
)
"""The location-tuning prompt: the same format without the reasoning requirement."""

JSON_KEYS = ("district", "street", "reasons")
"""Keys of the answer, in the order they are written (the address first, so a cut-off answer keeps it)."""


def georeasoner_json(district: str, street: str, reasons: str | None = None) -> str:
    """The answer ``{"district": ..., "street": ...[, "reasons": ...]}`` as one line of valid JSON."""
    answer = {"district": str(district), "street": str(street)}
    if reasons is not None:
        answer["reasons"] = str(reasons).strip()
    return json.dumps(answer, ensure_ascii=False)


def is_location_question(entry: Mapping[str, Any]) -> bool:
    """Whether a ``questions`` entry asks to name the place (a generation question at any level, or
    street_district): GeoReasoner asks those with its JSON prompt."""
    return entry.get("type") == "generation" or entry.get("level") == "street_district"


def location_tuning_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A VQA row in the location-tuning format: its naming turns become one `LOCATION_QUESTION` turn (the first of
    them, where it was) answered in JSON; judgement and multiple-choice turns are kept.

    Args:
        row (`Mapping`): a VQA row (``docs/data_format.md`` §2) with ``questions``, ``conversations``, ``street``
            and ``district``.

    Returns:
        `dict`: the new ``questions`` and ``conversations`` (rows without address questions, such as mixed-in
        general VQA, are returned unchanged).
    """
    questions, conversations = list(row["questions"]), list(row["conversations"])
    if not questions:
        return {"questions": questions, "conversations": conversations}
    turns = [(conversations[2 * i], conversations[2 * i + 1]) for i in range(len(conversations) // 2)]
    if len(turns) != len(questions):
        raise ValueError(
            f"row {row.get('id')!r}: {len(turns)} question-answer turns but {len(questions)} questions entries"
        )
    answer = georeasoner_json(row["district"], row["street"])
    reference = f"{row['street']}, {row['district']}"
    new_questions, new_conversations, asked = [], [], False
    for entry, (human, gpt) in zip(questions, turns):
        if is_location_question(entry):
            if asked:
                continue
            asked = True
            entry = {**entry, "question": LOCATION_QUESTION, "answer": answer, "level": "street_district"}
            entry.update(type="generation", reference=reference, options=[])
            human, gpt = {**human, "value": LOCATION_QUESTION}, {**gpt, "value": answer}
        new_questions.append(entry)
        new_conversations += [human, gpt]
    return {"questions": new_questions, "conversations": new_conversations}


def reasoning_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A labelled GeoReasoner stage-A row (``addressvlm data label-georeasoner``) in the JSON format: the question is
    `REASONING_QUESTION`, the target ``{"district", "street", "reasons"}`` with the row's accepted reason."""
    reason = str(row.get("reason") or "").strip()
    if not reason:
        raise ValueError(
            f"row {row.get('id')!r} has no reason: label the set first (addressvlm data label-georeasoner)"
        )
    target = georeasoner_json(row["district"], row["street"], reason)
    return {
        "question": REASONING_QUESTION,
        "answer": target,
        "conversations": [{"from": "human", "value": REASONING_QUESTION}, {"from": "gpt", "value": target}],
    }


def _kept_images(table: str | os.PathLike) -> set[str]:
    from .metadata import read_metadata

    frame = read_metadata(table, validate=False)
    if "image" not in frame.columns:
        raise ValueError(f"{table}: no 'image' column; pass the metadata.csv that addressvlm data locatability wrote")
    root = Path(frame.attrs["image_root"])
    return {os.path.normpath(name if os.path.isabs(name) else root / name) for name in frame["image"] if name}


def write_georeasoner_set(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    keep_images: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a GeoReasoner-format copy of a dataset folder (atomically).

    * a labelled GeoReasoner set (``label-georeasoner``): every row becomes a reasoning-tuning row (`reasoning_row`);
    * a VQA set (``build-vqa``): every training and validation row becomes a location-tuning row
      (`location_tuning_row`); the test split is copied as it is (evaluation asks GeoReasoner's prompt itself:
      ``addressvlm eval --prompt-style georeasoner``). With ``keep_images`` only the training rows whose image is in
      that metadata table are kept (the table ``addressvlm data locatability`` wrote).

    Image paths stay as stored (relative to the source's image root), so the folder trains with the recipes like its
    source; ``build_info.json`` gains ``georeasoner_format``.

    Args:
        dataset_dir (`str` or `os.PathLike`): the source dataset folder.
        output_dir (`str` or `os.PathLike`): the new folder.
        keep_images (`str` or `os.PathLike`, *optional*): a metadata table of the training images to keep (VQA
            sets only).
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing ``output_dir``.

    Returns:
        `dict`: the ``georeasoner_format`` record (kind, rows per split, rows dropped by the filter).
    """
    from datasets import Dataset, DatasetDict

    from addressvlm.utils.io import check_not_an_input, check_output_dir

    from .storage import (
        _resolve_image_root,
        dataset_kind,
        load_address_dataset,
        load_dataset_dict,
        read_build_info,
        save_dataset_dict,
    )

    check_output_dir(output_dir, overwrite)
    check_not_an_input(output_dir, [dataset_dir, keep_images])
    info = read_build_info(dataset_dir)
    kind = dataset_kind(info)
    if kind not in ("vqa", "georeasoner"):
        raise ValueError(
            f"{dataset_dir} is a {kind or 'dataset of unknown kind'}; georeasoner-format takes a VQA set "
            "(addressvlm data build-vqa) or a labelled GeoReasoner set (addressvlm data label-georeasoner)"
        )
    if keep_images is not None and kind != "vqa":
        raise ValueError("--keep-images filters the training rows of a VQA set (location tuning), not a labelled set")
    raw, absolute = load_dataset_dict(dataset_dir), load_address_dataset(dataset_dir)
    kept = _kept_images(keep_images) if keep_images is not None else None
    result, counts, dropped = DatasetDict(), {}, 0
    for name, split in raw.items():
        if kind == "vqa" and name == "test":
            result[name], counts[name] = split, split.num_rows  # evaluated with --prompt-style georeasoner
            continue
        rows = []
        for row, image in zip(split, absolute[name]["image"]):
            if kind == "georeasoner":
                rows.append({**row, **reasoning_row(row)})
                continue
            if kept is not None and name == "train" and row["questions"] and os.path.normpath(image) not in kept:
                dropped += 1
                continue
            rows.append({**row, **location_tuning_row(row)})
        result[name] = Dataset.from_list(rows, features=split.features) if rows else split.select([])
        counts[name] = len(rows)
    if not counts.get("train"):
        raise ValueError(f"no training row is left: none of the training images of {dataset_dir} is in {keep_images}")
    record = {
        "kind": "reasoning" if kind == "georeasoner" else "location",
        "source": str(Path(dataset_dir).resolve()),
        "keep_images": str(Path(keep_images).resolve()) if keep_images is not None else None,
        "rows": counts,
        "train_rows_dropped": dropped,
    }
    build_info = {k: v for k, v in info.items() if k not in ("image_root", "image_root_absolute", "format_version")}
    build_info["georeasoner_format"] = record
    save_dataset_dict(result, output_dir, build_info, _resolve_image_root(Path(dataset_dir), info, None), overwrite)
    return record
