"""Save and load the project's datasets: a `datasets.DatasetDict` folder plus ``build_info.json``.

Image paths are stored relative to an image root; ``build_info.json`` records that root relative to the dataset
folder (and as an absolute fallback), so a dataset keeps working after its folder -- or the folder holding both
the dataset and the images -- is moved.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from addressvlm.utils.io import atomic_output_dir, write_json


if TYPE_CHECKING:
    from datasets import DatasetDict


__all__ = [
    "BUILD_INFO_FILE",
    "DATASET_KINDS",
    "FORMAT_VERSION",
    "check_dataset_kind",
    "check_images_exist",
    "check_split_rows",
    "dataset_kind",
    "load_address_dataset",
    "load_dataset_dict",
    "missing_split_message",
    "read_build_info",
    "save_dataset_dict",
    "write_dataset_files",
]

logger = logging.getLogger(__name__)

BUILD_INFO_FILE = "build_info.json"
"""Name of the build record written beside the splits."""

FORMAT_VERSION = 1
"""Version of the on-disk formats of ``docs/data_format.md``."""


def write_dataset_files(
    dataset_dict: DatasetDict,
    folder: str | os.PathLike,
    build_info: Mapping[str, Any],
    image_root: str | os.PathLike,
    final_dir: str | os.PathLike | None = None,
) -> None:
    """Write the splits and ``build_info.json`` into ``folder`` (typically the temporary folder of
    `atomic_output_dir`).

    Args:
        dataset_dict (`DatasetDict`):
            The splits.
        folder (`str` or `os.PathLike`):
            Where to write now.
        build_info (`Mapping`):
            Builder arguments, seed, counts... (``image_root``, ``image_root_absolute`` and ``format_version``
            are added).
        image_root (`str` or `os.PathLike`):
            Folder the relative paths of the path columns are relative to.
        final_dir (`str` or `os.PathLike`, *optional*):
            Where ``folder`` will end up (the recorded ``image_root`` is relative to it); defaults to ``folder``.
    """
    final = Path(final_dir if final_dir is not None else folder).resolve()
    root = Path(image_root).resolve()
    info = dict(build_info)
    info["format_version"] = FORMAT_VERSION
    info["image_root"] = os.path.relpath(root, final)
    info["image_root_absolute"] = str(root)
    empty = [name for name, split in dataset_dict.items() if split.num_rows == 0]
    for name in empty:
        logger.warning(
            "%s: the %r split has no rows (too few locations for the split ratios?); it is written empty",
            final,
            name,
        )
    # an empty split still gets one (empty) shard: `datasets` cannot load a split saved without any
    dataset_dict.save_to_disk(str(folder), num_shards={name: 1 for name in empty} or None)
    write_json(Path(folder) / BUILD_INFO_FILE, info)


def save_dataset_dict(
    dataset_dict: DatasetDict,
    output_dir: str | os.PathLike,
    build_info: Mapping[str, Any],
    image_root: str | os.PathLike,
    overwrite: bool = False,
) -> Path:
    """Write ``dataset_dict`` with `DatasetDict.save_to_disk` and ``build_info.json``, atomically.

    Args:
        dataset_dict (`DatasetDict`):
            The splits.
        output_dir (`str` or `os.PathLike`):
            Destination folder (replaced as a whole, only when everything was written).
        build_info (`Mapping`):
            Builder arguments, seed, counts...
        image_root (`str` or `os.PathLike`):
            Folder the relative paths of the path columns are relative to.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace an existing non-empty ``output_dir``.

    Returns:
        `Path`: ``output_dir``.
    """
    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        write_dataset_files(dataset_dict, tmp, build_info, image_root, final_dir=output_dir)
    return Path(output_dir)


DATASET_KINDS = {
    "vqa": "street-view VQA set (addressvlm data build-vqa)",
    "alignment": "stage-1 alignment set (addressvlm data build-alignment, label-alignment)",
    "georeasoner": "GeoReasoner stage-1 set (addressvlm data label-georeasoner)",
}
"""The kinds of dataset folders, by what `dataset_kind` returns."""

_BUILDER_KINDS = {
    "addressvlm.data.build_vqa": "vqa",
    "addressvlm.data.build_alignment_set": "alignment",
    "label-georeasoner": "georeasoner",
}


def dataset_kind(info: Mapping[str, Any]) -> str | None:
    """``vqa``, ``alignment`` or ``georeasoner`` from a ``build_info.json`` record (`None` when it does not say)."""
    kind = _BUILDER_KINDS.get(str(info.get("builder", "")))
    if kind is None and info.get("kind") in ("vqa", "stage1", "alignment", "georeasoner"):
        kind = "alignment" if info["kind"] == "stage1" else info["kind"]
    return kind


def check_dataset_kind(path: str | os.PathLike, expected: Sequence[str], purpose: str) -> None:
    """Refuse a dataset folder of the wrong kind (a VQA set where a stage-1 set is needed, ...).

    Args:
        path (`str` or `os.PathLike`): the dataset folder.
        expected (`Sequence[str]`): the accepted kinds (keys of `DATASET_KINDS`).
        purpose (`str`): what the folder is for, for the message (e.g. ``"stage-2 training"``).

    Raises:
        `ValueError`: naming the folder, its kind and the kind needed. Folders whose kind is not recorded pass.
    """
    kind = dataset_kind(read_build_info(path))
    if kind is not None and kind not in expected:
        wanted = " or a ".join(DATASET_KINDS[name] for name in expected)
        raise ValueError(f"{path} is a {DATASET_KINDS[kind]}; {purpose} needs a {wanted}")


def read_build_info(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``build_info.json`` of a saved dataset folder."""
    info_path = Path(path) / BUILD_INFO_FILE
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} not found: {path} is not a dataset written by addressvlm.data")
    with open(info_path, encoding="utf-8") as handle:
        return json.load(handle)


def _resolve_image_root(path: Path, info: Mapping[str, Any], image_root: str | os.PathLike | None) -> Path:
    if image_root is not None:
        return Path(image_root).resolve()
    relative = (path / info.get("image_root", ".")).resolve()
    absolute = Path(info.get("image_root_absolute", relative))
    return relative if relative.is_dir() or not absolute.is_dir() else absolute


def load_dataset_dict(path: str | os.PathLike) -> DatasetDict:
    """`datasets.load_from_disk` of a dataset folder, with the raw (relative) paths.

    A split saved without any shard (how empty splits used to be written) loads as an empty split instead of
    failing with an `IndexError`.

    Args:
        path (`str` or `os.PathLike`): the dataset folder.

    Returns:
        `DatasetDict`: every split of ``dataset_dict.json``.
    """
    from datasets import Dataset, DatasetDict, DatasetInfo, load_from_disk
    from datasets.splits import NamedSplit

    path = Path(path)
    listing = path / "dataset_dict.json"
    if not listing.is_file():
        return load_from_disk(str(path))
    with open(listing, encoding="utf-8") as handle:
        names = json.load(handle).get("splits", [])
    splits = DatasetDict()
    for name in names:
        folder = path / name
        with open(folder / "state.json", encoding="utf-8") as handle:
            state = json.load(handle)
        if state.get("_data_files"):
            splits[name] = Dataset.load_from_disk(str(folder))
            continue
        info = DatasetInfo.from_directory(str(folder))
        table = info.features.arrow_schema.empty_table()
        splits[name] = Dataset(table, info=info, split=NamedSplit(name))
    return splits


def missing_split_message(path: str | os.PathLike, split: str, available) -> str:
    """The error for a split a dataset folder does not have."""
    return f"{path} has no split {split!r}; it has {sorted(available)}"


def check_split_rows(dataset, path: str | os.PathLike, split: str) -> None:
    """Raise a `ValueError` when a split has no rows, pointing at the build's counts.

    Raises:
        `ValueError`: naming the folder and the split.
    """
    if dataset.num_rows == 0:
        raise ValueError(
            f"{path}: the {split!r} split has no rows (too few locations for the split ratios when it was built; "
            f"see 'counts' in {Path(path) / BUILD_INFO_FILE}); rebuild it with more locations or other split ratios"
        )


def check_images_exist(dataset, column: str, where: str, shown: int = 3) -> None:
    """Raise a `FileNotFoundError` listing the image files of ``dataset[column]`` that do not exist.

    A pre-flight check before training: a missing file would otherwise stop the run at the batch that holds it.

    Args:
        dataset (`datasets.Dataset`): rows with absolute image paths (empty paths are text-only rows).
        column (`str`): the image column.
        where (`str`): the dataset and split, for the message.
    """
    if column not in dataset.column_names:
        return
    missing = sorted({name for name in dataset[column] if name and not os.path.isfile(name)})
    if missing:
        listed = ", ".join(missing[:shown]) + (f" and {len(missing) - shown} more" if len(missing) > shown else "")
        raise FileNotFoundError(
            f"{where}: {len(missing)} image file(s) do not exist: {listed}; restore them or rebuild the dataset "
            "(addressvlm data stats <metadata table> --check-images lists every bad file)"
        )


def load_address_dataset(path: str | os.PathLike, image_root: str | os.PathLike | None = None) -> DatasetDict:
    """Load a dataset written by `build_vqa` or `build_alignment_set`, with image paths made absolute.

    Args:
        path (`str` or `os.PathLike`):
            The dataset folder (holding the splits and ``build_info.json``).
        image_root (`str` or `os.PathLike`, *optional*):
            Override the image root. By default it is the root recorded relative to the dataset folder, or
            the recorded absolute root when the relative one does not exist.

    Returns:
        `DatasetDict`: the splits; the path columns named in ``build_info["path_columns"]`` (``image``, and
        ``street_view`` / ``satellite`` for stage-1 sets) hold absolute paths. Empty paths stay empty.
    """
    from datasets import DatasetDict

    path = Path(path)
    info = read_build_info(path)
    loaded = load_dataset_dict(path)
    root = _resolve_image_root(path, info, image_root)
    columns = info.get("path_columns", ["image"])
    resolved = DatasetDict()
    for split, dataset in loaded.items():
        order = dataset.column_names
        for column in columns:
            if column not in order:
                continue
            values = [
                value if not value or os.path.isabs(value) else os.path.normpath(os.path.join(root, value))
                for value in dataset[column]
            ]
            dataset = dataset.remove_columns([column]).add_column(
                column, values, new_fingerprint=f"{dataset._fingerprint}-abs-{column}"
            )
        resolved[split] = dataset.select_columns(order)
    return resolved
