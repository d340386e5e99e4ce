"""Test and quickstart support that is the same for every backbone.

* :func:`build_tiny` / :func:`save_tiny` -- a backbone's tiny random model (the backbone's own builder, from the
  registry);
* :func:`write_street_view_vqa` -- random street views, their metadata and the VQA set the real builder makes.

Production code never imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path


__all__ = ["DEFAULT_BACKBONE", "build_tiny", "save_tiny", "write_street_view_vqa"]

DEFAULT_BACKBONE = "llava_phi3"


def build_tiny(backbone: str = DEFAULT_BACKBONE, **kwargs):
    """A tiny random model and its processor of ``backbone`` (deterministic for a seed; see its ``build_tiny``)."""
    from addressvlm.models import get_backbone

    return get_backbone(backbone).build_tiny(**kwargs)


def save_tiny(path: str | os.PathLike, backbone: str = DEFAULT_BACKBONE, layout: str = "ours", **kwargs) -> str:
    """Write a tiny checkpoint of ``backbone`` in ``layout`` to ``path``; return the path."""
    from addressvlm.models import get_backbone

    return get_backbone(backbone).save_tiny(path, layout=layout, **kwargs)


def write_street_view_vqa(
    folder: str | os.PathLike, n_locations: int = 24, views: int = 2, size: tuple[int, int] = (640, 480), seed: int = 0
) -> Path:
    """Write random street views (Pitts-sized JPEGs by default), their metadata table and the VQA set built from it
    by the real builder (``addressvlm data build-vqa``); returns the VQA folder.

    Streets and districts cycle over 8 and 4 names, so every question type has enough distractors.
    """
    import numpy as np
    import pandas as pd
    from PIL import Image

    from addressvlm.data.vqa import build_vqa

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    rows = []
    for location in range(n_locations):
        for view in range(views):
            name = f"images/{location:04d}_{view}.jpg"
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name, quality=90)
            rows.append(
                {
                    "image": name,
                    "location_id": f"L{location:04d}",
                    "lat": 40.44 + location * 1e-3,
                    "lon": -79.99,
                    "street": f"Street {location % 8}",
                    "district": f"District {location % 4}",
                }
            )
    table = folder / "metadata.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    build_vqa(table, folder / "vqa", seed=seed, overwrite=True)
    return folder / "vqa"
