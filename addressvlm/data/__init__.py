"""Datasets of AddressVLM: metadata tables, street-view VQA, grafted stage-1 sets and the offline city.

Public names are imported lazily (on first access), so ``import addressvlm.data`` stays cheap and pulls in
neither datasets, pyrosm nor matplotlib. ``addressvlm.data`` never imports the model code.
"""

from __future__ import annotations

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "validation": ["MetadataError", "ValidationIssue", "ValidationReport"],
        "metadata": ["REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "read_metadata", "validate_metadata"],
        "adapters": [
            "ADDRESSCLIP_DEFAULT_GUESS",
            "load_column_mapping",
            "parse_sfxl_names",
            "read_addressclip_table",
            "sfxl_metadata",
            "split_addressclip_address",
        ],
        "vqa": ["build_vqa", "vqa_question_counts", "vqa_stats"],
        "splits": ["split_by_location"],
        "subsample": ["subsample_locations", "subsample_views"],
        "storage": ["load_address_dataset", "read_build_info"],
        # `addressvlm.data.graft` is the function even once the submodule of that name is imported (lazy_loader
        # guards a name shared by an attribute and its submodule)
        "graft": ["graft", "inset_box", "inset_size"],
        "tiles": [
            "GeoImage",
            "StreetLines",
            "TileFrame",
            "cut_tile",
            "label_tile",
            "load_streets",
            "open_geo_image",
            "open_xyz",
            "render_tile_pair",
        ],
        "alignment": ["build_alignment_set"],
        "general_vqa": ["mix_general_vqa", "read_llava_json"],
        "city": ["SynthCitySummary", "build_synth_city"],
    },
)
