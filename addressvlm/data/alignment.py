"""The stage-1 (cross-view alignment) set: grafted images with "street, district" answers (``docs/data_format.md`` §3).

For every street view (``per="view"``) or one view per location (``per="location"``), the location's satellite
tile (labelled, or ``satellite="unlabeled"`` for the "Satellite w/o road" ablation) is grafted with the street
view (eq. 3, `addressvlm.data.graft`) and saved under ``<output_dir>/images/``. Each row asks one of the
`ALIGNMENT_QUESTIONS` (seeded choice) and answers ``"{street}, {district}"``; ``reason`` stays empty and
``label_source`` is ``""`` until ``addressvlm data label-alignment`` fills them.

Ablations: ``delta`` (Table 9), labelled vs unlabelled tiles (Table 3), ``views_per_location`` /
``location_fraction`` (Fig. 7 densities), several metadata tables merged into one set with a ``city`` column
(Table 5), and general LLaVA-format VQA mixed in at a ratio (Table 6, `addressvlm.data.general_vqa`).
To keep evaluation locations out of stage 1, pass the built VQA set as ``vqa_dataset``: only the locations of
its ``train`` split are used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from addressvlm.utils.io import atomic_output_dir, check_not_an_input, check_output_dir
from addressvlm.utils.processes import worker_pool

from .graft import fit, graft, inset_size
from .metadata import input_paths
from .options import AlignmentOptions
from .splits import split_by_location
from .storage import load_dataset_dict, write_dataset_files
from .subsample import subsample_locations, subsample_views
from .templates import ALIGNMENT_QUESTIONS
from .validation import MetadataError, ValidationReport
from .vqa import load_metadata_frame


if TYPE_CHECKING:
    from datasets import DatasetDict


__all__ = ["ALIGNMENT_COLUMNS", "AlignmentOptions", "build_alignment_set", "graft_files"]

logger = logging.getLogger(__name__)

ALIGNMENT_COLUMNS: tuple[str, ...] = (
    "id",
    "image",
    "street_view",
    "satellite",
    "location_id",
    "street",
    "district",
    "city",
    "source",
    "question",
    "answer",
    "reason",
    "label_source",
    "conversations",
)
"""Columns of a stage-1 split, in order."""


def graft_files(jobs: list[tuple[str, str, str]], delta: float, size: int, quality: int = 95) -> int:
    """Graft ``(satellite, street view, output)`` path triples with `graft` and save them (in worker processes too).

    Consecutive jobs with the same satellite reuse its resized copy.

    Returns:
        `int`: number of images written.
    """
    from addressvlm.utils.images import open_rgb

    cached_path, cached = None, None
    for satellite_path, street_path, output in jobs:
        if satellite_path != cached_path:
            cached, cached_path = fit(open_rgb(satellite_path), (size, size)), satellite_path  # errors name the file
        graft(cached, open_rgb(street_path), delta, size).save(output, quality=quality)  # PNG ignores quality
    return len(jobs)


def _resolve(root: Path, paths: pd.Series) -> list[str]:
    return [p if os.path.isabs(p) else str((root / p).resolve()) for p in paths]


def _load_tables(metadata, cities, satellite_column):
    items = list(metadata) if isinstance(metadata, (list, tuple)) else [metadata]
    if cities is not None and len(cities) != len(items):
        raise ValueError(f"{len(cities)} city names for {len(items)} metadata tables")
    frames = []
    for number, item in enumerate(items):
        frame, root, source = load_metadata_frame(item)
        report = ValidationReport(source=source, n_rows=len(frame))
        if satellite_column not in frame.columns:
            report.add("missing_column", "needed for the stage-1 set (tiles per location)", None, satellite_column)
        else:
            for row in np.flatnonzero((frame[satellite_column] == "").to_numpy()):
                report.add("empty_value", "empty satellite tile path", int(row) + 1, satellite_column)
        if not report.ok:
            raise MetadataError(report)
        if cities is not None:
            frame["city"] = cities[number]
        elif "city" not in frame.columns or (frame["city"] == "").any():
            default = Path(source).parent.name if source != "<DataFrame>" else f"city{number}"
            frame["city"] = frame["city"].where(frame["city"] != "", default) if "city" in frame else default
        frame["_street_view_abs"] = _resolve(root, frame["image"])
        frame["_satellite_abs"] = _resolve(root, frame[satellite_column])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def build_alignment_set(
    metadata: str | os.PathLike | pd.DataFrame | Sequence[str | os.PathLike | pd.DataFrame],
    output_dir: str | os.PathLike,
    options: AlignmentOptions | None = None,
    *,
    questions: Sequence[str] = ALIGNMENT_QUESTIONS,
    progress: bool = True,
    **overrides: Any,
) -> DatasetDict:
    """Build the stage-1 alignment set and write it (images + splits + ``build_info.json``) to ``output_dir``.

    Args:
        metadata (`str`, `os.PathLike`, `pd.DataFrame` or a sequence of them):
            Metadata table(s) with a satellite tile column; several tables are merged (Table 5).
        output_dir (`str` or `os.PathLike`):
            Destination folder (written atomically); grafted images go to ``images/`` inside it.
        options ([`AlignmentOptions`], *optional*):
            The build options (defaults: ``AlignmentOptions()``).
        questions (`Sequence[str]`, *optional*, defaults to `ALIGNMENT_QUESTIONS`):
            Question templates (one is drawn per row).
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar.
        overrides:
            Single options by name (``size=224, seed=1``), on top of ``options``.

    Returns:
        `DatasetDict`: ``train`` (and ``validation``); paths relative to ``output_dir`` (absolute after
        `load_address_dataset`).
    """
    options = replace(options or AlignmentOptions(), **overrides)
    import pyarrow as pa
    from datasets import Dataset, DatasetDict
    from datasets.splits import NamedSplit
    from tqdm.auto import tqdm

    inset_size((1, 1), options.delta, options.size)  # validates delta and size before any work
    if options.satellite not in ("labeled", "unlabeled"):
        raise ValueError(f"satellite must be 'labeled' or 'unlabeled', got {options.satellite!r}")
    if options.per not in ("view", "location"):
        raise ValueError(f"per must be 'view' or 'location', got {options.per!r}")
    if options.image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {options.image_format!r}")
    if not questions:
        raise ValueError("at least one alignment question is needed")
    satellite_column = "satellite" if options.satellite == "labeled" else "satellite_unlabeled"
    check_output_dir(output_dir, options.overwrite)
    check_not_an_input(
        output_dir,
        input_paths(metadata, None, options.vqa_dataset, options.general_vqa_json, options.general_vqa_image_root),
    )
    frame = _load_tables(metadata, options.cities, satellite_column)
    counts: dict[str, Any] = {"input_rows": len(frame)}
    frame["_key"] = frame["city"] + "\x1f" + frame["location_id"]
    if options.vqa_dataset is not None:
        train_locations = set(load_dataset_dict(options.vqa_dataset)["train"].unique("location_id"))
        keep = frame["location_id"].isin(train_locations).to_numpy()
        counts["rows_outside_vqa_train"] = int((~keep).sum())
        frame = frame[keep]
    keyed = frame.rename(columns={"location_id": "_location", "_key": "location_id"})
    keyed = subsample_locations(keyed, options.location_fraction, options.seed)
    keyed = subsample_views(keyed, 1 if options.per == "location" else options.views_per_location, options.seed)
    frame = keyed.rename(columns={"location_id": "_key", "_location": "location_id"}).reset_index(drop=True)
    counts["rows_dropped_by_subsampling"] = counts["input_rows"] - counts.get("rows_outside_vqa_train", 0) - len(frame)
    if frame.empty:
        reasons = [f"{counts['input_rows']} rows in the metadata"]
        if options.vqa_dataset is not None:
            reasons.append(f"{counts['rows_outside_vqa_train']} outside the train split of {options.vqa_dataset}")
        if (
            options.location_fraction is not None
            or options.views_per_location is not None
            or options.per == "location"
        ):
            reasons.append(f"{counts['rows_dropped_by_subsampling']} dropped by subsampling")
        raise ValueError(f"no street views left for the stage-1 set: {', '.join(reasons)}")
    split_of_row = split_by_location(
        frame["_key"].to_numpy(),
        (1 - options.validation_fraction, options.validation_fraction),
        options.seed,
        names=("train", "validation"),
    )
    rng = np.random.default_rng([options.seed, 31])
    question_index = rng.integers(0, len(questions), size=len(frame))
    out = Path(output_dir)
    splits = DatasetDict()
    with atomic_output_dir(out, overwrite=options.overwrite) as tmp:
        (tmp / "images").mkdir()
        names = [f"images/{i:07d}.{options.image_format}" for i in range(len(frame))]
        order = np.argsort(frame["_satellite_abs"].to_numpy(), kind="stable")  # reuse each resized tile
        jobs = [(frame["_satellite_abs"].iat[i], frame["_street_view_abs"].iat[i], str(tmp / names[i])) for i in order]
        chunks = [jobs[i : i + 128] for i in range(0, len(jobs), 128)]
        graft_chunk = partial(graft_files, delta=options.delta, size=options.size)
        with tqdm(total=len(jobs), desc="grafting", unit="img", disable=not progress) as bar:  # closed on errors
            with worker_pool(options.workers) if options.workers > 1 else nullcontext() as pool:
                for written in (pool.map if pool else map)(graft_chunk, chunks):
                    bar.update(written)
        out_abs = out.resolve()
        question_text = np.asarray(list(questions), dtype=object)[question_index]
        answers = (frame["street"] + ", " + frame["district"]).to_numpy(dtype=object)
        columns = {
            "id": [f"stage1-{i:07d}" for i in range(len(frame))],
            "image": names,
            "street_view": [os.path.relpath(p, out_abs) for p in frame["_street_view_abs"]],
            "satellite": [os.path.relpath(p, out_abs) for p in frame["_satellite_abs"]],
            "location_id": frame["location_id"].tolist(),
            "street": frame["street"].tolist(),
            "district": frame["district"].tolist(),
            "city": frame["city"].tolist(),
            "source": ["alignment"] * len(frame),
            "question": question_text.tolist(),
            "answer": answers.tolist(),
            "reason": [""] * len(frame),
            "label_source": [""] * len(frame),
            "conversations": [
                [{"from": "human", "value": q}, {"from": "gpt", "value": a}] for q, a in zip(question_text, answers)
            ],
        }
        arguments = {
            "delta": options.delta,
            "size": options.size,
            "satellite": options.satellite,
            "per": options.per,
            "views_per_location": options.views_per_location,
            "location_fraction": options.location_fraction,
            "cities": list(options.cities) if options.cities is not None else None,
            "vqa_dataset": str(options.vqa_dataset) if options.vqa_dataset is not None else None,
            "general_vqa": str(options.general_vqa_json) if options.general_vqa_json is not None else None,
            "general_ratio": options.general_vqa_ratio if options.general_vqa_json is not None else None,
            "validation_fraction": options.validation_fraction,
            "questions": list(questions),
            "image_format": options.image_format,
            "seed": options.seed,
        }
        digest = hashlib.sha256(json.dumps([arguments, columns["street_view"]], sort_keys=True).encode()).hexdigest()
        table = pa.table(columns)
        for split in ("train", "validation"):
            mask = split_of_row == split
            if split == "validation" and options.validation_fraction <= 0:
                continue
            part = Dataset(table.filter(pa.array(mask)), split=NamedSplit(split), fingerprint=f"{digest[:12]}-{split}")
            if split == "train" and options.general_vqa_json is not None:
                part, mix = _mix(part, options, out, digest)
                counts["general_vqa"] = {"requested": mix.requested, "added": mix.added, "available": mix.available}
            splits[split] = part
            counts[split] = {
                "rows": part.num_rows,
                "locations": int(pd.Series(frame["_key"].to_numpy()[mask]).nunique()),
            }
        counts["cities"] = {str(k): int(v) for k, v in frame["city"].value_counts().sort_index().items()}
        info = {
            "builder": "addressvlm.data.build_alignment_set",
            "arguments": arguments,
            "counts": counts,
            "path_columns": ["image", "street_view", "satellite"],
        }
        write_dataset_files(splits, tmp, info, image_root=out, final_dir=out)
    return splits


def _mix(part, options: AlignmentOptions, out, digest):
    from datasets import Dataset
    from datasets.splits import NamedSplit

    from .general_vqa import mix_general_vqa

    mixed, mix = mix_general_vqa(
        part, options.general_vqa_json, options.general_vqa_ratio, out, options.general_vqa_image_root, options.seed
    )
    table = mixed.data.table if hasattr(mixed.data, "table") else mixed.data
    return Dataset(table, split=NamedSplit("train"), fingerprint=f"{digest[:12]}-train-mixed"), mix
