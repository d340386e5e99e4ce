"""Mix general-purpose VQA (LLaVA JSON, e.g. ``llava_v1_5_mix665k.json``) into a built set (Table 6).

The JSON is a list of records ``{"id"?, "image"?, "conversations": [{"from": "human"|"gpt", "value": ...}]}``;
``image`` is relative to ``image_root`` (default: the JSON's folder) and may be absent for text-only records.
``ratio`` is the number of general rows per address row: Table 6's "5:1" (general:address, the mix that hurts most) is
``ratio=5``, "1:1" is ``1.0`` (the paper: "increasing the share of address VQA data improves performance").
Rows are drawn without replacement; when the file holds fewer than asked, all are used and the shortfall is
reported (never silently).

General rows get ``id`` ``general-<n>``, their conversations and image, and neutral values in every other
column (empty strings, NaN, empty lists); a ``source`` column, where the set has one, says ``general`` and a
``label_source`` column says ``general`` (so alignment labelling skips them).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np


if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["GeneralMix", "mix_general_vqa", "read_llava_json"]

logger = logging.getLogger(__name__)


@dataclass
class GeneralMix:
    """Counts of a mix.

    Args:
        requested (`int`): general rows asked for (``round(ratio * address rows)``).
        added (`int`): general rows added.
        available (`int`): records in the JSON.
    """

    requested: int
    added: int
    available: int


def read_llava_json(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read and check a LLaVA-format JSON list.

    Args:
        path (`str` or `os.PathLike`):
            The ``.json`` (a list) or ``.jsonl`` (one record per line) file.

    Returns:
        `list[dict]`: the records.

    Raises:
        `ValueError`: naming the file and the 1-based record of the first malformed record(s).
    """
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        if path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in handle if line.strip()]
        else:
            records = json.load(handle)
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
    problems = []
    for number, record in enumerate(records, start=1):
        turns = record.get("conversations") if isinstance(record, dict) else None
        if not isinstance(turns, list) or not turns:
            problems.append(f"{path}, record {number}: 'conversations' must be a non-empty list")
            continue
        for turn_number, turn in enumerate(turns, start=1):
            if not (
                isinstance(turn, dict) and turn.get("from") in ("human", "gpt") and isinstance(turn.get("value"), str)
            ):
                problems.append(f"{path}, record {number}, turn {turn_number}: needs 'from' human/gpt and 'value'")
                break
    if problems:
        shown = "\n".join(problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(f"{len(problems)} malformed record(s):\n{shown}{more}")
    return records


def _default(feature: Any) -> Any:
    from datasets import List, Sequence, Value

    if isinstance(feature, (List, Sequence, list)):
        return []
    if isinstance(feature, Value) and feature.dtype.startswith("float"):
        return float("nan")
    if isinstance(feature, Value) and feature.dtype.startswith(("int", "uint")):
        return 0
    if isinstance(feature, Value) and feature.dtype == "bool":
        return False
    if isinstance(feature, dict):
        return {key: _default(value) for key, value in feature.items()}
    return ""


def mix_general_vqa(
    dataset: Dataset,
    json_path: str | os.PathLike,
    ratio: float,
    output_image_root: str | os.PathLike | None,
    image_root: str | os.PathLike | None = None,
    seed: int = 0,
) -> tuple[Dataset, GeneralMix]:
    """Append ``round(ratio * len(dataset))`` general VQA rows to ``dataset`` (then shuffle with ``seed``).

    Args:
        dataset (`Dataset`):
            An address split (its features define the columns of the general rows).
        json_path (`str` or `os.PathLike`):
            LLaVA-format JSON.
        ratio (`float`):
            General rows per address row (> 0).
        output_image_root (`str` or `os.PathLike`, *optional*):
            The image root of the output set; general image paths are stored relative to it (absolute with
            `None`).
        image_root (`str` or `os.PathLike`, *optional*):
            Folder of the JSON's relative image paths (default: the JSON's folder).
        seed (`int`, *optional*, defaults to 0):
            Seed of the draw and of the final shuffle.

    Returns:
        `tuple`: the mixed `Dataset` and a `GeneralMix` with the counts.
    """
    from datasets import Dataset, concatenate_datasets

    if ratio <= 0:
        raise ValueError(f"general VQA ratio must be > 0, got {ratio}")
    from addressvlm.models.conversation import strip_image_placeholder

    records = read_llava_json(json_path)
    root = Path(image_root) if image_root is not None else Path(json_path).parent
    requested = int(np.floor(ratio * len(dataset) + 0.5))
    rng = np.random.default_rng([seed, 21])
    chosen = rng.choice(len(records), size=min(requested, len(records)), replace=False)
    if requested > len(records):
        logger.warning("asked for %d general VQA rows but %s holds %d: using all", requested, json_path, len(records))
    features = dataset.features
    columns: dict[str, list[Any]] = {name: [] for name in features}
    out_root = Path(output_image_root).resolve() if output_image_root is not None else None
    for n, index in enumerate(sorted(chosen.tolist())):
        record = records[index]
        turns = [{"from": turn["from"], "value": turn["value"]} for turn in record["conversations"]]
        first_human = next((t["value"] for t in turns if t["from"] == "human"), "")
        first_gpt = next((t["value"] for t in turns if t["from"] == "gpt"), "")
        image = record.get("image") or ""
        if image:
            absolute = Path(image) if os.path.isabs(image) else (root / image).resolve()
            image = str(absolute) if out_root is None else os.path.relpath(absolute, out_root)
        values = {
            "id": f"general-{n:07d}",
            "image": image,
            "conversations": turns,
            "question": strip_image_placeholder(first_human).strip(),
            "answer": first_gpt,
            "source": "general",
            "label_source": "general",
        }
        for name, feature in features.items():
            columns[name].append(values[name] if name in values else _default(feature))
    general = Dataset.from_dict(columns, features=features)
    mixed = concatenate_datasets([dataset, general]).shuffle(seed=seed).flatten_indices()
    return mixed, GeneralMix(requested=requested, added=len(chosen), available=len(records))
