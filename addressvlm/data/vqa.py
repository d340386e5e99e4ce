"""The street-view VQA builder (section 2.3 and appendix B of the paper; schema ``docs/data_format.md`` §2).

`build_vqa` reads a metadata table, splits it by location (7:2:1, seeded), plans the questions of every image
(training: ``turns_per_image`` turns with the three question types balanced 1:1:1; validation and test: the 9
evaluation questions), writes their texts from the Table B4/B5 templates, and assembles Arrow columns
directly (no per-row Python dicts), so a Pitts-size table builds in seconds.

Multiple-choice training answers are the option letter (``"B"``) by default -- the suffix asks to "select the
correct option (A/B/C/D)" -- or ``"(B) Kluuvi"`` with ``mc_answer="letter_text"``; the scored ``reference`` is
always the letter.

The same inputs, options and seed give byte-identical output folders.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from addressvlm.utils.io import check_not_an_input, check_output_dir

from .metadata import column_renames, input_paths, normalise_metadata, read_metadata, validate_metadata
from .options import VQAOptions
from .splits import SPLIT_NAMES, split_by_location
from .storage import save_dataset_dict
from .subsample import subsample_locations, subsample_views
from .vqa_questions import (
    DISTRICT,
    STREET,
    AddressCodes,
    QuestionPlan,
    feasible,
    level_and_type_names,
    plan_evaluation,
    plan_training,
    render_questions,
)


if TYPE_CHECKING:
    import pyarrow as pa
    from datasets import DatasetDict


__all__ = ["VQAOptions", "build_vqa", "load_metadata_frame", "vqa_question_counts", "vqa_stats"]

logger = logging.getLogger(__name__)

_STREAM = {"train": 1, "validation": 2, "test": 3}


def load_metadata_frame(
    metadata: str | os.PathLike | pd.DataFrame,
    image_root: str | os.PathLike | None = None,
    column_map: Mapping[str, str] | None = None,
    check_images: bool = False,
) -> tuple[pd.DataFrame, Path, str]:
    """Read (or validate an in-memory) metadata table.

    Args:
        metadata (`str`, `os.PathLike` or `pd.DataFrame`):
            A CSV/Parquet file or a table in the ``docs/data_format.md`` §1 schema.
        image_root (`str` or `os.PathLike`, *optional*):
            Folder of relative image paths; defaults to the table's folder (or ``frame.attrs["image_root"]``,
            or the current folder).
        column_map (`Mapping[str, str]`, `str` or `os.PathLike`, *optional*):
            Column renames, or the YAML/JSON file holding them.
        check_images (`bool`, *optional*, defaults to `False`):
            Open every image and report missing / unreadable files.

    Returns:
        `tuple`: the normalised table, the resolved image root and a source description.

    Raises:
        `MetadataError`: listing every invalid row.
    """
    if isinstance(metadata, pd.DataFrame):
        root = Path(image_root or metadata.attrs.get("image_root", ".")).resolve()
        source = metadata.attrs.get("source", "<DataFrame>")
        if column_map:
            metadata = metadata.rename(columns=column_renames(column_map))
        validate_metadata(metadata, source=source, image_root=root, check_images=check_images).raise_if_errors()
        return normalise_metadata(metadata), root, source
    frame = read_metadata(metadata, column_map=column_map, check_images=check_images)
    root = Path(image_root).resolve() if image_root is not None else Path(frame.attrs["image_root"])
    return frame, root, str(metadata)


def _address_codes(frame: pd.DataFrame) -> AddressCodes:
    district_codes, district_names = pd.factorize(frame["district"], sort=True)
    street_codes, street_names = pd.factorize(frame["street"], sort=True)
    if "city" in frame.columns:
        city = pd.factorize(frame["city"], sort=True)[0].astype(np.int64)
    else:
        city = np.zeros(len(frame), dtype=np.int64)
    return AddressCodes(
        names={
            DISTRICT: np.asarray(district_names, dtype=object),
            STREET: np.asarray(street_names, dtype=object),
        },
        codes={DISTRICT: district_codes.astype(np.int64), STREET: street_codes.astype(np.int64)},
        city=city,
        lat=frame["lat"].to_numpy(dtype="float64"),
        lon=frame["lon"].to_numpy(dtype="float64"),
    )


def _frame_digest(frame: pd.DataFrame) -> str:
    columns = [c for c in ("image", "location_id", "lat", "lon", "street", "district", "city") if c in frame]
    hashed = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _arrow_split_table(frame: pd.DataFrame, rows: np.ndarray, plan: QuestionPlan, rendered, split: str) -> pa.Table:
    """Assemble the split's Arrow table (schema ``docs/data_format.md`` §2) from flat question arrays."""
    import pyarrow as pa

    local = np.searchsorted(rows, plan.row)
    per_row = np.bincount(local, minlength=len(rows))
    keep = per_row > 0
    rows, per_row = rows[keep], per_row[keep]
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    n_questions = int(offsets[-1])
    human = rendered.question  # backbone-neutral: no image placeholder (each processor puts its own)
    conv_values = np.empty(2 * n_questions, dtype=object)
    conv_values[0::2] = human
    conv_values[1::2] = rendered.answer
    conv_from = np.tile(np.asarray(["human", "gpt"], dtype=object), n_questions)
    string = pa.string()
    conversations = pa.ListArray.from_arrays(
        pa.array(2 * offsets, pa.int32()),
        pa.StructArray.from_arrays(
            [pa.array(conv_from, string), pa.array(conv_values, string)], names=["from", "value"]
        ),
    )
    level, qtype = level_and_type_names(plan)
    option_offsets = np.concatenate([[0], np.cumsum(rendered.option_counts)]).astype(np.int32)
    options = pa.ListArray.from_arrays(pa.array(option_offsets, pa.int32()), pa.array(rendered.option_values, string))
    questions = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.StructArray.from_arrays(
            [
                pa.array(rendered.question, string),
                pa.array(rendered.answer, string),
                pa.array(level, string),
                pa.array(qtype, string),
                pa.array(rendered.reference, string),
                options,
            ],
            names=["question", "answer", "level", "type", "reference", "options"],
        ),
    )
    part = frame.iloc[rows]
    ids = [f"{split}-{i:07d}" for i in range(len(rows))]
    columns = {
        "id": pa.array(ids, string),
        "image": pa.array(part["image"].to_numpy(dtype=object), string),
        "location_id": pa.array(part["location_id"].to_numpy(dtype=object), string),
        "street": pa.array(part["street"].to_numpy(dtype=object), string),
        "district": pa.array(part["district"].to_numpy(dtype=object), string),
        "lat": pa.array(part["lat"].to_numpy(dtype="float64"), pa.float64()),
        "lon": pa.array(part["lon"].to_numpy(dtype="float64"), pa.float64()),
    }
    if "city" in part.columns:
        columns["city"] = pa.array(part["city"].to_numpy(dtype=object), string)
    columns["conversations"] = conversations
    columns["questions"] = questions
    return pa.table(columns)


def build_vqa(
    metadata: str | os.PathLike | pd.DataFrame,
    output_dir: str | os.PathLike | None = None,
    options: VQAOptions | None = None,
    **overrides: Any,
) -> DatasetDict:
    """Build the street-view VQA `DatasetDict` (train / validation / test) from a metadata table.

    Args:
        metadata (`str`, `os.PathLike` or `pd.DataFrame`):
            Metadata table (``docs/data_format.md`` §1). With a ``city`` column, distractors stay in each city.
        output_dir (`str` or `os.PathLike`, *optional*):
            Write the splits and ``build_info.json`` here (atomically). Without it nothing is written.
        options ([`VQAOptions`], *optional*):
            The build options (defaults: ``VQAOptions()``).
        overrides:
            Single options by name (``seed=1, turns_per_image=7``), on top of ``options``.

    Returns:
        `DatasetDict`: splits ``train``, ``validation``, ``test``; ``image`` paths are relative to the image
        root (use `load_address_dataset` on the saved folder for absolute paths).
    """
    options = replace(options or VQAOptions(), **overrides)
    from datasets import Dataset, DatasetDict
    from datasets.splits import NamedSplit

    if output_dir is not None:
        check_output_dir(output_dir, options.overwrite)
        check_not_an_input(
            output_dir,
            input_paths(metadata, options.image_root, options.general_vqa_json, options.general_vqa_image_root),
        )
    frame, root, source = load_metadata_frame(metadata, options.image_root, options.column_map, options.check_images)
    use_split_column = "split" in frame.columns and not options.ignore_split_column
    if use_split_column and options.split_ratios is not None:
        raise ValueError(
            f"{source} has a 'split' column (its official train / validation / test), so split ratios "
            f"{list(options.split_ratios)} would be ignored: drop them to use the column, or re-draw the splits on "
            "purpose with ignore_split_column=True (--ignore-split-column)"
        )
    split_ratios = options.split_ratios or (0.7, 0.2, 0.1)
    if len(split_ratios) != 3:
        raise ValueError(f"split_ratios needs 3 values (train, validation, test), got {list(split_ratios)}")
    arguments = {
        "seed": options.seed,
        "split_source": "column" if use_split_column else "drawn",
        "split_ratios": None if use_split_column else [float(r) for r in split_ratios],
        "turns_per_image": options.turns_per_image,
        "distractors": options.distractors,
        "nearby_pool": options.nearby_pool,
        "mc_answer": options.mc_answer,
        "generation_prompts": options.generation_prompts,
        "views_per_location": options.views_per_location,
        "location_fraction": options.location_fraction,
        "general_vqa": str(options.general_vqa_json) if options.general_vqa_json is not None else None,
        "general_ratio": options.general_vqa_ratio if options.general_vqa_json is not None else None,
    }
    digest = _frame_digest(frame)
    codes = _address_codes(frame)
    if use_split_column:
        split_of_row = frame["split"].to_numpy(dtype=object)
        logger.info("Splits from the table's 'split' column: %s", frame["split"].value_counts().to_dict())
    else:
        split_of_row = split_by_location(frame["location_id"].to_numpy(), split_ratios, options.seed)
    splits = DatasetDict()
    counts: dict[str, Any] = {}
    for split in SPLIT_NAMES:
        rng = np.random.default_rng([options.seed, _STREAM[split]])
        rows = np.flatnonzero(split_of_row == split)
        dropped_by_subsampling = 0
        if split == "train" and (options.views_per_location is not None or options.location_fraction is not None):
            part = subsample_locations(frame.iloc[rows], options.location_fraction, options.seed)
            part = subsample_views(part, options.views_per_location, options.seed)
            dropped_by_subsampling = len(rows) - len(part)
            rows = rows[np.isin(rows, part.index.to_numpy())]
        plan = plan_training(rows, options.turns_per_image, rng) if split == "train" else plan_evaluation(rows)
        ok = feasible(plan, codes)
        skipped = plan.select(~ok)
        plan = plan.select(ok)
        rendered = render_questions(
            plan,
            codes,
            rng,
            distractors=options.distractors,
            nearby_pool=options.nearby_pool,
            mc_answer=options.mc_answer,
            generation_prompts="templates" if split == "train" else options.generation_prompts,
        )
        table = _arrow_split_table(frame, rows, plan, rendered, split)
        fingerprint = hashlib.sha256(json.dumps([arguments, split, digest], sort_keys=True).encode()).hexdigest()[:16]
        counts[split] = _split_counts(table, rows, skipped, dropped_by_subsampling)
        if split == "train" and options.general_vqa_json is not None:
            from .general_vqa import mix_general_vqa

            mixed, mix = mix_general_vqa(
                Dataset(table),
                options.general_vqa_json,
                options.general_vqa_ratio,
                root,
                image_root=options.general_vqa_image_root,
                seed=options.seed,
            )
            table = mixed.data.table if hasattr(mixed.data, "table") else mixed.data
            counts[split]["general_vqa"] = {"requested": mix.requested, "added": mix.added, "available": mix.available}
        splits[split] = Dataset(table, split=NamedSplit(split), fingerprint=fingerprint)
        if counts[split]["skipped_questions"]:
            logger.warning(
                "%s: skipped %d question(s) whose city has too few other names: %s",
                split,
                sum(counts[split]["skipped_questions"].values()),
                counts[split]["skipped_questions"],
            )
    if output_dir is not None:
        info = {
            "builder": "addressvlm.data.build_vqa",
            "source": source,
            "source_sha256": digest,
            "arguments": arguments,
            "counts": counts,
            "path_columns": ["image"],
        }
        save_dataset_dict(splits, output_dir, info, image_root=root, overwrite=options.overwrite)
    return splits


def _split_counts(table: pa.Table, rows: np.ndarray, skipped: QuestionPlan, dropped: int) -> dict[str, Any]:
    import pyarrow.compute as pc

    levels, types = level_and_type_names(skipped)
    skipped_counts = pd.Series([f"{lv}/{ty}" for lv, ty in zip(levels, types)], dtype=object).value_counts()
    return {
        "images": table.num_rows,
        "images_without_questions": int(len(rows) - table.num_rows),
        "images_dropped_by_subsampling": int(dropped),
        "questions": int(pc.sum(pc.list_value_length(table.column("questions"))).as_py() or 0),
        "skipped_questions": {str(k): int(v) for k, v in sorted(skipped_counts.items())},
    }


def vqa_stats(dataset_dict: Mapping[str, Any]) -> pd.DataFrame:
    """The Table B2 statistics of each split.

    Args:
        dataset_dict (`DatasetDict` or `Mapping[str, Dataset]`):
            A built VQA dataset.

    Returns:
        `pd.DataFrame`: one row per split with columns ``locations``, ``districts``, ``streets``, ``images``,
        ``questions`` and ``questions/image``.
    """
    import pyarrow.compute as pc

    records = {}
    for split, dataset in dataset_dict.items():
        table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
        n_images = table.num_rows
        n_questions = int(pc.sum(pc.list_value_length(table["questions"])).as_py() or 0) if n_images else 0
        records[split] = {
            "locations": pc.count_distinct(table["location_id"]).as_py(),
            "districts": pc.count_distinct(table["district"]).as_py(),
            "streets": pc.count_distinct(table["street"]).as_py(),
            "images": n_images,
            "questions": n_questions,
            "questions/image": round(n_questions / n_images, 2) if n_images else 0.0,
        }
    return pd.DataFrame.from_dict(records, orient="index")


def vqa_question_counts(dataset_dict: Mapping[str, Any]) -> pd.DataFrame:
    """Number of questions per split, level and type (and judgement Yes/No).

    Args:
        dataset_dict (`DatasetDict` or `Mapping[str, Dataset]`):
            A built VQA dataset.

    Returns:
        `pd.DataFrame`: columns ``split``, ``level``, ``type``, ``reference_kind`` (``Yes``/``No`` for
        judgement, else ``-``) and ``questions``.
    """
    import pyarrow.compute as pc

    frames = []
    for split, dataset in dataset_dict.items():
        table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
        flat = pc.list_flatten(table["questions"])
        if len(flat) == 0:
            continue
        level = pc.struct_field(flat, "level").to_numpy(zero_copy_only=False)
        qtype = pc.struct_field(flat, "type").to_numpy(zero_copy_only=False)
        reference = pc.struct_field(flat, "reference").to_numpy(zero_copy_only=False)
        kind = np.where(qtype == "judgement", reference, "-")
        frames.append(pd.DataFrame({"split": split, "level": level, "type": qtype, "reference_kind": kind}))
    if not frames:
        return pd.DataFrame(columns=["split", "level", "type", "reference_kind", "questions"])
    joined = pd.concat(frames, ignore_index=True)
    return joined.value_counts(sort=False).rename("questions").reset_index()
