"""Datasets of AddressVLM: metadata tables, street-view VQA and grafted stage-1 sets.

The offline city that renders a stand-in for real data is `addressvlm.synthetic`.

Public names are imported lazily (on first access), so ``import addressvlm.data`` stays cheap and pulls in
neither datasets, pyrosm nor matplotlib. ``addressvlm.data`` never imports the model code.
The package exports what users and the other packages call; the builders' helpers stay in their submodules
(e.g. `addressvlm.data.metadata.validate_metadata`, `addressvlm.data.tiles.cut_tile`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported eagerly: the submodule ``graft`` and the function ``graft`` share a name, and importing the submodule
# (e.g. through ``alignment``) would otherwise bind the module to ``addressvlm.data.graft``. It needs only PIL.
from .graft import graft


_EXPORTS: dict[str, str] = {
    # metadata tables
    "MetadataError": "validation",
    "read_metadata": "metadata",
    "read_addressclip_table": "adapters",
    "sfxl_metadata": "adapters",
    # VQA
    "build_vqa": "vqa",
    "vqa_question_counts": "vqa",
    "vqa_stats": "vqa",
    "load_address_dataset": "storage",
    "read_build_info": "storage",
    # grafting, tiles and the stage-1 set
    "graft_tensors": "graft_torch",
    "load_streets": "tiles",
    "open_geo_image": "tiles",
    "open_xyz": "tiles",
    "render_tile_pair": "tiles",
    "build_alignment_set": "alignment",
    "mix_general_vqa": "general_vqa",
}

__all__ = [
    "MetadataError",
    "build_alignment_set",
    "build_vqa",
    "graft",
    "graft_tensors",
    "load_address_dataset",
    "load_streets",
    "mix_general_vqa",
    "open_geo_image",
    "open_xyz",
    "read_addressclip_table",
    "read_build_info",
    "read_metadata",
    "render_tile_pair",
    "sfxl_metadata",
    "vqa_question_counts",
    "vqa_stats",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .adapters import read_addressclip_table, sfxl_metadata
    from .alignment import build_alignment_set
    from .general_vqa import mix_general_vqa
    from .graft import graft
    from .graft_torch import graft_tensors
    from .metadata import read_metadata
    from .storage import load_address_dataset, read_build_info
    from .tiles import load_streets, open_geo_image, open_xyz, render_tile_pair
    from .validation import MetadataError
    from .vqa import build_vqa, vqa_question_counts, vqa_stats
