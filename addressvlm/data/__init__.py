"""Datasets of AddressVLM: metadata tables, street-view VQA and grafted stage-1 sets.

The offline city that renders a stand-in for real data is `addressvlm.synthetic`.

Public names are imported lazily (on first access), so ``import addressvlm.data`` stays cheap and pulls in
neither datasets, pyrosm nor matplotlib. ``addressvlm.data`` never imports the model code.
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
    "ValidationIssue": "validation",
    "ValidationReport": "validation",
    "REQUIRED_COLUMNS": "metadata",
    "OPTIONAL_COLUMNS": "metadata",
    "read_metadata": "metadata",
    "validate_metadata": "metadata",
    "ADDRESSCLIP_DEFAULT_GUESS": "adapters",
    "load_column_mapping": "adapters",
    "parse_sfxl_names": "adapters",
    "read_addressclip_table": "adapters",
    "sfxl_metadata": "adapters",
    "split_addressclip_address": "adapters",
    # VQA
    "build_vqa": "vqa",
    "vqa_question_counts": "vqa",
    "vqa_stats": "vqa",
    "split_by_location": "splits",
    "subsample_locations": "subsample",
    "subsample_views": "subsample",
    "load_address_dataset": "storage",
    "read_build_info": "storage",
    # grafting, tiles and the stage-1 set
    "inset_box": "graft",
    "inset_size": "graft",
    "graft_tensors": "graft_torch",
    "GeoImage": "tiles",
    "StreetLines": "tiles",
    "TileFrame": "tiles",
    "cut_tile": "tiles",
    "label_tile": "tiles",
    "load_streets": "tiles",
    "open_geo_image": "tiles",
    "open_xyz": "tiles",
    "render_tile_pair": "tiles",
    "build_alignment_set": "alignment",
    "mix_general_vqa": "general_vqa",
    "read_llava_json": "general_vqa",
}

__all__ = [
    "ADDRESSCLIP_DEFAULT_GUESS",
    "GeoImage",
    "MetadataError",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "StreetLines",
    "TileFrame",
    "ValidationIssue",
    "ValidationReport",
    "build_alignment_set",
    "build_vqa",
    "cut_tile",
    "graft",
    "graft_tensors",
    "inset_box",
    "inset_size",
    "label_tile",
    "load_address_dataset",
    "load_column_mapping",
    "load_streets",
    "mix_general_vqa",
    "open_geo_image",
    "open_xyz",
    "parse_sfxl_names",
    "read_addressclip_table",
    "read_build_info",
    "read_llava_json",
    "read_metadata",
    "render_tile_pair",
    "sfxl_metadata",
    "split_addressclip_address",
    "split_by_location",
    "subsample_locations",
    "subsample_views",
    "validate_metadata",
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
    from .adapters import (
        ADDRESSCLIP_DEFAULT_GUESS,
        load_column_mapping,
        parse_sfxl_names,
        read_addressclip_table,
        sfxl_metadata,
        split_addressclip_address,
    )
    from .alignment import build_alignment_set
    from .general_vqa import mix_general_vqa, read_llava_json
    from .graft import graft, inset_box, inset_size
    from .graft_torch import graft_tensors
    from .metadata import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, read_metadata, validate_metadata
    from .splits import split_by_location
    from .storage import load_address_dataset, read_build_info
    from .subsample import subsample_locations, subsample_views
    from .tiles import (
        GeoImage,
        StreetLines,
        TileFrame,
        cut_tile,
        label_tile,
        load_streets,
        open_geo_image,
        open_xyz,
        render_tile_pair,
    )
    from .validation import MetadataError, ValidationIssue, ValidationReport
    from .vqa import build_vqa, vqa_question_counts, vqa_stats
