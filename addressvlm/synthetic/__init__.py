"""The offline city: real OpenStreetMap streets and districts, procedurally rendered street views and tiles.

`build_synth_city` (``addressvlm data synth-city``) writes a city folder in the metadata format of
docs/data_format.md, which the dataset builders of `addressvlm.data` read like any real city. This package uses
`addressvlm.data.tiles`; of `addressvlm.data` only its command line (``addressvlm data synth-city``) imports this
package, and it imports no model, training or inference code.

Public names are imported lazily (on first access), so ``import addressvlm.synthetic`` pulls in neither pyrosm nor
pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any


_EXPORTS: dict[str, str] = {
    "SynthCitySummary": "city",
    "build_synth_city": "city",
}

__all__ = ["SynthCitySummary", "build_synth_city"]


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
    from .city import SynthCitySummary, build_synth_city
