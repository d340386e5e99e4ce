"""The offline city: real OpenStreetMap streets and districts, procedurally rendered street views and tiles.

`build_synth_city` (``addressvlm data synth-city``) writes a city folder in the metadata format of
docs/data_format.md, which the dataset builders of `addressvlm.data` read like any real city. This package uses
`addressvlm.data.tiles`; of `addressvlm.data` only its command line (``addressvlm data synth-city``) imports this
package, and it imports no model, training or inference code.

Public names are imported lazily (on first access), so ``import addressvlm.synthetic`` pulls in neither pyrosm nor
pandas.
"""

from __future__ import annotations

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__, submod_attrs={"city": ["SynthCitySummary", "build_synth_city"]}
)
