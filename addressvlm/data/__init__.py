"""Datasets of AddressVLM: metadata tables, street-view VQA and grafted stage-1 sets.

The offline city that renders a stand-in for real data is `addressvlm.synthetic`.

Public names are imported lazily (on first access), so ``import addressvlm.data`` stays cheap and pulls in
neither datasets, pyrosm nor matplotlib. ``addressvlm.data`` never imports the model code.
The package exports what users and the other packages call; the builders' helpers stay in their submodules
(e.g. `addressvlm.data.metadata.validate_metadata`, `addressvlm.data.tiles.cut_tile`).
"""

from __future__ import annotations

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "validation": ["MetadataError"],
        "metadata": ["read_metadata"],
        "adapters": ["read_addressclip_table", "sfxl_metadata"],
        "vqa": ["build_vqa", "vqa_question_counts", "vqa_stats"],
        "storage": ["load_address_dataset", "read_build_info"],
        # `addressvlm.data.graft` is the function even once the submodule of that name is imported (lazy_loader
        # guards a name shared by an attribute and its submodule)
        "graft": ["graft"],
        "tiles": ["load_streets", "open_geo_image", "open_xyz", "render_tile_pair"],
        "alignment": ["build_alignment_set"],
        "general_vqa": ["mix_general_vqa"],
        "options": ["AlignmentOptions", "LocatabilityOptions", "SynthCityOptions", "VQAOptions"],
    },
)
