"""Does a model read the map? Street naming from the satellite tile alone, with and without its street labels.

Stage 1 is meant to teach the link between a street view and the street names drawn on the map. Whether a model can
read those names at all is measured directly here, on held-out locations (the VQA test split), by asking the stage-1
question about four images of each location:

* ``grafted``: the stage-1 input (the street view inset on the labelled tile, eq. 3);
* ``tile``: the labelled tile alone -- the street names are written on it;
* ``tile_unlabeled``: the same tile without names -- only the road layout;
* ``inset``: the street view inset on a blank grey map.

If ``tile`` is no better than ``tile_unlabeled``, the model does not read the labels, and stage 1 can only teach
what the road layout and the street view show. The answer's street and district are parsed from its first sentence
(``"Street, District. Reason"``) and compared with the metric's normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


__all__ = ["VARIANTS", "reading_images", "reading_probe"]

VARIANTS: tuple[str, ...] = ("grafted", "tile", "tile_unlabeled", "inset")


def reading_images(metadata, vqa_dataset, split: str = "test", delta: float = 0.5, size: int = 336, limit=None):
    """The probe images of one view per location of ``split``.

    Args:
        metadata (`str` or `os.PathLike`): the city's metadata table (with ``satellite`` and
            ``satellite_unlabeled`` tiles).
        vqa_dataset (`str` or `os.PathLike`): the VQA set whose ``split`` locations are probed.
        split (`str`, *optional*, defaults to `"test"`): held-out locations.
        delta (`float`, *optional*, defaults to 0.5): inset size of eq. 3.
        size (`int`, *optional*, defaults to 336): the grafted image's side.
        limit (`int`, *optional*): at most this many locations.

    Returns:
        `list[dict]`: per location ``street``, ``district`` and one PIL image per name in `VARIANTS`.
    """
    from PIL import Image

    from addressvlm.data import load_address_dataset
    from addressvlm.data.graft import graft
    from addressvlm.data.metadata import read_metadata

    table = read_metadata(metadata)
    root = Path(table.attrs["image_root"])
    locations = set(load_address_dataset(str(vqa_dataset))[split]["location_id"])
    rows = table[table["location_id"].isin(locations)].drop_duplicates("location_id").sort_values("location_id")
    if limit is not None:
        rows = rows.head(limit)
    missing = [c for c in ("satellite", "satellite_unlabeled") if c not in rows.columns]
    if missing:
        raise KeyError(f"{metadata} lacks the tile column(s) {missing}: the reading probe needs both kinds of tile")
    probes = []
    for row in rows.itertuples():
        view = Image.open(root / row.image).convert("RGB")
        labelled = Image.open(root / row.satellite).convert("RGB").resize((size, size), Image.BICUBIC)
        plain = Image.open(root / row.satellite_unlabeled).convert("RGB").resize((size, size), Image.BICUBIC)
        blank = Image.new("RGB", (size, size), (128, 128, 128))
        probes.append(
            {
                "location_id": row.location_id,
                "street": row.street,
                "district": row.district,
                "grafted": graft(labelled, view, delta=delta, size=size),
                "tile": labelled,
                "tile_unlabeled": plain,
                "inset": graft(blank, view, delta=delta, size=size),
            }
        )
    return probes


def _first_sentence(answer: str) -> str:
    head = answer.strip().split(". ", 1)[0]
    return head[:-1] if head.endswith(".") else head


def reading_probe(
    model,
    processor,
    probes: Sequence[dict[str, Any]],
    question: str,
    batch_size: int = 32,
    metric_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Ask ``question`` about every probe image (greedy) and score street and district per variant.

    Returns:
        `dict`: per variant ``street`` and ``district`` accuracy (%) and ``n``; plus ``examples`` (a few answers).
    """
    from .generation import generate_answers
    from .metric import load_address_accuracy, metric_functions

    functions = metric_functions(load_address_accuracy(metric_path))
    normalize, split = functions.normalize_address, functions.split_street_district
    results: dict[str, Any] = {"question": question, "examples": {}}
    for variant in VARIANTS:
        answers = generate_answers(
            model, processor, [p[variant] for p in probes], [question] * len(probes), batch_size=batch_size
        )
        street_hits = district_hits = 0
        for probe, answer in zip(probes, answers):
            street, district = split(_first_sentence(answer))
            street_hits += bool(street) and normalize(street) == normalize(probe["street"])
            district_hits += bool(district) and normalize(district, "district") == normalize(
                probe["district"], "district"
            )
        n = len(probes)
        results[variant] = {"street": 100 * street_hits / n, "district": 100 * district_hits / n, "n": n}
        results["examples"][variant] = answers[:3]
    return results
