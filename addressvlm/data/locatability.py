"""Locatability of street views (GeoReasoner, Li et al. 2024): how much of an image shows what locates it.

An ADE20K semantic segmentation (150 classes) gives the share of the image's pixels in each class, ``r_k``; the
image's locatability is ``sum_k w_k * r_k`` with one weight per class. The weights ship with the package
(``ade20k_locatability_weights.json``, the ones of GeoReasoner's public code: road 1.0, column 0.567, path 0.543,
signboard 0.491, traffic light 0.486, street lamp 0.476, sidewalk 0.453, ...; the paper learns them with a
CLIP-based network). GeoReasoner keeps the images with locatability above 0.4 for its location tuning.

Any Hugging Face semantic-segmentation checkpoint with the ADE20K label set works
(``AutoModelForSemanticSegmentation`` + its image processor's ``post_process_semantic_segmentation``: MaskFormer,
Mask2Former, SegFormer, UperNet ...); GeoReasoner used MaskFormer, the default here.

`build_locatability` runs both steps (``addressvlm data locatability``): `score_metadata` scores a metadata table;
`filter_by_locatability` keeps a top fraction or the images above a threshold; `write_locatability` writes
``scores.csv`` (every row with its score), ``metadata.csv`` (the kept rows, image paths rewritten for the new
folder), ``histogram.png`` and ``locatability_info.json``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .options import DEFAULT_SEGMENTATION_MODEL, LocatabilityOptions


__all__ = [
    "DEFAULT_SEGMENTATION_MODEL",
    "DEFAULT_THRESHOLD",
    "LocatabilityOptions",
    "LocatabilityWeights",
    "build_locatability",
    "class_fractions",
    "filter_by_locatability",
    "load_locatability_weights",
    "locatability_scores",
    "read_class_fractions",
    "score_images",
    "score_metadata",
    "weights_for_labels",
    "write_locatability",
]

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.4
"""GeoReasoner keeps images with locatability above 0.4 (SPEC §8)."""

WEIGHTS_FILE = "ade20k_locatability_weights.json"
SCORE_COLUMN = "locatability"
_MIN_NAME_AGREEMENT = 0.75  # share of a 150-label model's names that must be ADE20K's in the same order


@dataclass(frozen=True)
class LocatabilityWeights:
    """Per-class weights in ADE20K id order.

    Args:
        names (`tuple[str, ...]`): class names (``"road, route"``: synonyms separated by commas).
        weights (`np.ndarray`): float64, one per class.
        source (`str`): where the weights come from.
    """

    names: tuple[str, ...]
    weights: np.ndarray
    source: str

    def weight(self, name: str) -> float:
        """The weight of the class one of whose names is ``name`` (case-insensitive)."""
        wanted = name.strip().lower()
        for index, names in enumerate(self.names):
            if wanted in _synonyms(names):
                return float(self.weights[index])
        raise KeyError(f"no class named {name!r} in the locatability weights ({self.source})")


def _synonyms(names: str) -> set[str]:
    return {part.strip().lower() for part in names.split(",") if part.strip()}


def load_locatability_weights(path: str | os.PathLike | None = None) -> LocatabilityWeights:
    """Read a weights file: ``{"classes": [{"id": 0, "name": "wall", "weight": 0.11}, ...]}``, ids 0..N-1.

    Args:
        path (`str` or `os.PathLike`, *optional*):
            A JSON file in that format; defaults to the packaged ``ade20k_locatability_weights.json``.

    Returns:
        [`LocatabilityWeights`].

    Raises:
        `ValueError`: naming the file and the entry that is wrong.
    """
    if path is None:
        text = resources.files("addressvlm.data").joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
        source = f"addressvlm/data/{WEIGHTS_FILE}"
    else:
        source = str(path)
        if not Path(path).is_file():
            raise FileNotFoundError(f"locatability weights file {path} does not exist")
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: not valid JSON ({err})") from None
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(classes, list) or not classes:
        raise ValueError(f"{source}: expected an object with a non-empty 'classes' list")
    names, weights = [], []
    for position, entry in enumerate(classes):
        where = f"{source}: classes[{position}]"
        if not isinstance(entry, dict) or set(entry) < {"id", "name", "weight"}:
            raise ValueError(f"{where}: each class needs 'id', 'name' and 'weight', got {entry!r}")
        if entry["id"] != position:
            raise ValueError(f"{where}: 'id' is {entry['id']!r}; ids must run 0, 1, 2 ... in order")
        weight = entry["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ValueError(f"{where} ({entry['name']!r}): 'weight' must be a finite number, got {weight!r}")
        names.append(str(entry["name"]))
        weights.append(float(weight))
    return LocatabilityWeights(tuple(names), np.asarray(weights, dtype=np.float64), str(data.get("source", source)))


def weights_for_labels(id2label: Mapping[int, str], table: LocatabilityWeights, model_name: str = "the model"):
    """The weight of each of a segmentation model's classes, by class id.

    The model must predict the table's label set in the table's order (ADE20K's 150 classes). Checkpoints spell some
    names differently (``streetlight`` for ``street lamp``), so ids decide; at least 75 % of the model's names must
    be one of the table's names for the same id, otherwise the model's label set is not ADE20K's.

    Args:
        id2label (`Mapping[int, str]`): the model config's ``id2label``.
        table ([`LocatabilityWeights`]): the weights.
        model_name (`str`, *optional*): named in errors.

    Returns:
        `np.ndarray`: float64 weights, indexed by the model's class id.

    Raises:
        `ValueError`: the number of classes differs, or too few names agree.
    """
    labels = {int(k): str(v) for k, v in id2label.items()}
    if sorted(labels) != list(range(len(table.names))):
        raise ValueError(
            f"{model_name} predicts {len(labels)} classes (ids {min(labels, default=None)}..."
            f"{max(labels, default=None)}), but the locatability weights ({table.source}) are for "
            f"{len(table.names)} ADE20K classes: use a segmentation checkpoint trained on ADE20K (150 classes)"
        )
    agrees = [bool(_synonyms(labels[i]) & _synonyms(name)) for i, name in enumerate(table.names)]
    if sum(agrees) < _MIN_NAME_AGREEMENT * len(table.names):
        different = [f"{i}: {labels[i]!r} vs {name!r}" for i, name in enumerate(table.names) if not agrees[i]]
        raise ValueError(
            f"{model_name}'s class names do not follow the ADE20K order of the weights ({sum(agrees)} of "
            f"{len(table.names)} agree; e.g. {', '.join(different[:5])})"
        )
    return table.weights


def class_fractions(label_map: np.ndarray, num_labels: int) -> np.ndarray:
    """The share of pixels in each class of a segmentation map.

    Args:
        label_map (`np.ndarray`): integer class ids, any shape (``(height, width)``); ids outside
            ``[0, num_labels)`` (e.g. 255 for "ignore") count towards no class.
        num_labels (`int`): number of classes.

    Returns:
        `np.ndarray`: float64 of length ``num_labels``, the fraction of all pixels in each class.
    """
    values = np.asarray(label_map).reshape(-1).astype(np.int64)
    if values.size == 0:
        raise ValueError("the segmentation map has no pixels")
    inside = values[(values >= 0) & (values < num_labels)]
    return np.bincount(inside, minlength=num_labels).astype(np.float64) / values.size


def locatability_scores(fractions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_k weights[k] * fractions[..., k]``: the locatability of each image (GeoReasoner).

    Args:
        fractions (`np.ndarray`): ``(num_labels,)`` or ``(num_images, num_labels)`` class fractions.
        weights (`np.ndarray`): ``(num_labels,)``.

    Returns:
        `np.ndarray`: a scalar array or one score per image.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape[-1] != len(weights):
        raise ValueError(f"{fractions.shape[-1]} class fractions per image but {len(weights)} weights")
    return fractions @ np.asarray(weights, dtype=np.float64)


def read_class_fractions(path: str | os.PathLike, images: Sequence[str], table: LocatabilityWeights) -> np.ndarray:
    """Known class fractions (the offline city's ``class_fractions.csv``, or any segmentation done elsewhere).

    Args:
        path (`str` or `os.PathLike`): a CSV with an ``image`` column (as the metadata table writes it) and one
            column per class, named by one of the class's names (``road``, ``signboard`` ...); a column
            ``unlabelled`` (pixels of no class) is ignored.
        images (`Sequence[str]`): the metadata table's ``image`` values, in its order.
        table ([`LocatabilityWeights`]): the weights (their class names and order).

    Returns:
        `np.ndarray`: ``(len(images), num_classes)`` fractions, in the table's class order.

    Raises:
        `ValueError`: naming the file and the column or image that does not fit.
    """
    from .metadata import read_table

    frame = read_table(path)
    if "image" not in frame.columns:
        raise ValueError(f"{path}: no 'image' column (found {list(frame.columns)})")
    lookup = {}
    for index, names in enumerate(table.names):
        for name in _synonyms(names):
            lookup.setdefault(name, index)
    fractions = np.zeros((len(images), len(table.names)), dtype=np.float64)
    position = {name: row for row, name in enumerate(frame["image"].astype(str).str.strip())}
    missing = [name for name in images if name not in position]
    if missing:
        raise ValueError(f"{path}: no class fractions for {len(missing)} image(s) of the table, e.g. {missing[0]!r}")
    rows = [position[name] for name in images]
    for column in frame.columns:
        if column in ("image", "unlabelled"):
            continue
        index = lookup.get(column.strip().lower())
        if index is None:
            raise ValueError(f"{path}: column {column!r} names no class of the locatability weights ({table.source})")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(values) | (values < 0) | (values > 1))
        if len(bad):
            raise ValueError(f"{path}: row {bad[0] + 1}, column {column!r}: {frame[column].iloc[bad[0]]!r} is not a "
                             "fraction in [0, 1]")  # fmt: skip
        fractions[:, index] += values[rows]
    return fractions


def load_segmenter(name_or_path: str, device: str = "cpu"):
    """Load a semantic-segmentation checkpoint and its image processor (``Auto*`` classes), in eval mode."""
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    try:
        processor = AutoImageProcessor.from_pretrained(name_or_path)
        model = AutoModelForSemanticSegmentation.from_pretrained(name_or_path)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"cannot load the segmentation model {name_or_path!r} with AutoModelForSemanticSegmentation: {err}"
        ) from None
    return model.to(device).eval(), processor


def score_images(
    images: Sequence[str | os.PathLike],
    model,
    processor,
    weights: np.ndarray,
    batch_size: int = 8,
    show_progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Segment each image and compute its class fractions and locatability.

    Args:
        images (`Sequence[str]`): image files.
        model (`PreTrainedModel`): an ``AutoModelForSemanticSegmentation`` model, on its device, in eval mode.
        processor: its image processor (with ``post_process_semantic_segmentation``).
        weights (`np.ndarray`): one weight per model class (`weights_for_labels`).
        batch_size (`int`, *optional*, defaults to 8): images per forward pass.
        show_progress (`bool`, *optional*, defaults to `True`): a progress bar.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: ``(scores, fractions)``, shapes ``(N,)`` and ``(N, num_labels)``; the
        segmentation is taken at each image's own size.
    """
    import torch
    from tqdm.auto import tqdm

    from addressvlm.utils.images import open_rgb

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    num_labels = len(weights)
    fractions = np.zeros((len(images), num_labels), dtype=np.float64)
    device = next(model.parameters()).device
    with tqdm(total=len(images), desc="locatability", unit="img", disable=not show_progress) as bar:
        for start in range(0, len(images), batch_size):
            paths = images[start : start + batch_size]
            batch = []
            for path in paths:
                try:
                    batch.append(open_rgb(path))
                except (OSError, ValueError) as err:
                    raise ValueError(f"cannot read the image {path}: {err}") from None
            inputs = processor(images=batch, return_tensors="pt").to(device)
            with torch.inference_mode():
                outputs = model(**inputs)
            sizes = [(image.height, image.width) for image in batch]
            maps = processor.post_process_semantic_segmentation(outputs, target_sizes=sizes)
            for offset, label_map in enumerate(maps):
                fractions[start + offset] = class_fractions(label_map.cpu().numpy(), num_labels)
            bar.update(len(batch))
    return locatability_scores(fractions, weights), fractions


def score_metadata(
    metadata: str | os.PathLike, options: LocatabilityOptions | None = None, *, progress: bool = True, **overrides
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every street view of a metadata table.

    Args:
        metadata (`str` or `os.PathLike`): CSV or Parquet table (``docs/data_format.md`` §1), validated first.
        options ([`LocatabilityOptions`], *optional*): ``model``, ``weights``, ``fractions``, ``batch_size``,
            ``device`` and ``column_map`` are used; ``overrides`` set single ones by name.
        progress (`bool`, *optional*, defaults to `True`): a progress bar.

    Returns:
        `tuple[pd.DataFrame, dict]`: the raw table (as in the file, columns renamed) with a ``locatability``
        column, and a record of the settings (model, weights source, image root).
    """
    options = replace(options or LocatabilityOptions(), **overrides)
    from .metadata import column_renames, read_metadata, read_table

    path = Path(metadata)
    frame = read_metadata(path, column_map=options.column_map)  # validates: every problem with file, row, column
    raw = read_table(path)
    if options.column_map:
        raw = raw.rename(columns=column_renames(options.column_map))
    root = Path(frame.attrs["image_root"])
    images = [str(Path(name) if os.path.isabs(name) else root / name) for name in frame["image"]]
    table = load_locatability_weights(options.weights)
    model = options.model
    if options.fractions is not None:
        known = read_class_fractions(options.fractions, list(frame["image"]), table)
        scores = locatability_scores(known, table.weights)
        model = f"class fractions from {Path(options.fractions).resolve()}"
    else:
        segmenter, processor = load_segmenter(model, options.device)
        weights = weights_for_labels(segmenter.config.id2label, table, model)
        scores, _ = score_images(images, segmenter, processor, weights, options.batch_size, progress)
    raw = raw.copy()
    raw[SCORE_COLUMN] = np.round(scores, 6)
    info = {"model": model, "weights": table.source, "image_root": str(root), "table": str(path.resolve())}
    return raw, info


def filter_by_locatability(
    scores: np.ndarray, top_fraction: float | None = None, threshold: float | None = None
) -> np.ndarray:
    """Which images to keep: the ``top_fraction`` highest scores, or the scores above ``threshold``.

    Args:
        scores (`np.ndarray`): one locatability per image.
        top_fraction (`float`, *optional*): keep ``ceil(top_fraction * N)`` images, the highest scores; ties are
            broken by table order (the earlier row is kept).
        threshold (`float`, *optional*): keep scores strictly above it (GeoReasoner: 0.4). Give exactly one of
            the two.

    Returns:
        `np.ndarray`: a boolean mask, in table order.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if (top_fraction is None) == (threshold is None):
        raise ValueError("give exactly one of top_fraction (--top-fraction) and threshold (--threshold)")
    if threshold is not None:
        return scores > threshold
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    keep = np.zeros(len(scores), dtype=bool)
    count = math.ceil(top_fraction * len(scores) - 1e-9)
    order = np.argsort(-scores, kind="stable")
    keep[order[:count]] = True
    return keep


def _relocate_paths(frame: pd.DataFrame, image_root: Path, output: Path) -> pd.DataFrame:
    """Relative image / tile paths rewritten relative to ``output`` so the new table finds the same files."""
    from .metadata import PATH_COLUMNS

    frame = frame.copy()
    for column in PATH_COLUMNS:
        if column not in frame.columns:
            continue

        def move(name: Any) -> Any:
            text = "" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name).strip()
            if not text or os.path.isabs(text):
                return name
            return os.path.relpath(image_root / text, output)

        frame[column] = frame[column].map(move)
    return frame


def _histogram(path: Path, scores: np.ndarray, cut: float | None, kept: int, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.6), dpi=120)
    axis.hist(scores, bins=min(50, max(5, len(scores) // 4)), color="#4c72b0")
    if cut is not None:
        axis.axvline(cut, color="#c44e52", linestyle="--", label=f"cut {cut:.3f}: {kept} of {len(scores)} kept")
        axis.legend(loc="upper right", fontsize=8)
    axis.set_xlabel("locatability (sum of class weight x pixel fraction)")
    axis.set_ylabel("images")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_locatability(
    scored: pd.DataFrame,
    info: Mapping[str, Any],
    output: str | os.PathLike,
    options: LocatabilityOptions | None = None,
    **overrides,
) -> dict[str, Any]:
    """Filter a scored table and write the output folder atomically.

    Files: ``scores.csv`` (every row, with ``locatability`` and ``kept``), ``metadata.csv`` (the kept rows, a valid
    metadata table whose relative paths point at the same files), ``histogram.png`` (scores and the cut) and
    ``locatability_info.json`` (settings and counts).

    Args:
        scored (`pd.DataFrame`): a table from `score_metadata` (``info["image_root"]`` is its image folder).
        info (`Mapping`): the record `score_metadata` returned.
        output (`str` or `os.PathLike`): the output folder.
        options ([`LocatabilityOptions`], *optional*): ``threshold``, ``top_fraction`` and ``overwrite`` are used;
            ``overrides`` set single ones by name.

    Returns:
        `dict`: the ``locatability_info.json`` record.
    """
    from addressvlm.utils.io import atomic_output_dir, atomic_write_json

    options = replace(options or LocatabilityOptions(), **overrides)
    top_fraction, threshold = options.top_fraction, options.threshold
    if threshold is None and top_fraction is None:
        threshold = DEFAULT_THRESHOLD

    scores = scored[SCORE_COLUMN].to_numpy(dtype=np.float64)
    keep = filter_by_locatability(scores, top_fraction, threshold)
    if not keep.any():
        raise ValueError(
            f"no image passes the filter (threshold {threshold}, top fraction {top_fraction}; scores range "
            f"{scores.min():.3f}-{scores.max():.3f}): lower --threshold or use --top-fraction"
        )
    cut = threshold if threshold is not None else float(scores[keep].min())
    final = Path(output).resolve()
    record = {
        **dict(info),
        "filter": {"top_fraction": top_fraction, "threshold": threshold, "cut": cut},
        "n_images": int(len(scores)),
        "n_kept": int(keep.sum()),
        "score_mean": round(float(scores.mean()), 6),
        "score_quantiles": {str(q): round(float(np.quantile(scores, q)), 6) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
    }
    if "location_id" in scored.columns:
        record["n_locations"] = int(scored["location_id"].nunique())
        record["n_locations_kept"] = int(scored.loc[keep, "location_id"].nunique())
    with atomic_output_dir(final, overwrite=options.overwrite) as tmp:
        moved = _relocate_paths(scored, Path(info["image_root"]), final)
        moved.assign(kept=keep).to_csv(tmp / "scores.csv", index=False)
        moved.loc[keep].drop(columns=[SCORE_COLUMN]).to_csv(tmp / "metadata.csv", index=False)
        title = f"{Path(info.get('table', 'metadata')).name}: {record['n_kept']} of {record['n_images']} kept"
        _histogram(tmp / "histogram.png", scores, cut, record["n_kept"], title)
        atomic_write_json(tmp / "locatability_info.json", record)
    return record


def build_locatability(
    metadata: str | os.PathLike,
    output: str | os.PathLike,
    options: LocatabilityOptions | None = None,
    *,
    progress: bool = True,
    **overrides,
) -> dict[str, Any]:
    """Score the street views of a metadata table and write the filtered table ([`score_metadata`], then
    [`write_locatability`]); the output folder is checked before any model loads.

    Args:
        metadata (`str` or `os.PathLike`): CSV or Parquet table (``docs/data_format.md`` §1).
        output (`str` or `os.PathLike`): the output folder.
        options ([`LocatabilityOptions`], *optional*): the options (defaults: ``LocatabilityOptions()``).
        progress (`bool`, *optional*, defaults to `True`): a progress bar.
        overrides: single options by name (``top_fraction=0.5``), on top of ``options``.

    Returns:
        `dict`: the ``locatability_info.json`` record.
    """
    from addressvlm.utils.io import check_not_an_input, check_output_dir

    options = replace(options or LocatabilityOptions(), **overrides)
    check_output_dir(output, options.overwrite)
    check_not_an_input(output, [metadata, Path(metadata).parent])
    scored, info = score_metadata(metadata, options, progress=progress)
    return write_locatability(scored, info, output, options)
