"""What `ask --rag` and the demo need from a retrieval index: similar street views with their addresses.

Retrieval indexes are built by another part of the project (``addressvlm.retrieval``, not in this checkout yet).
The demo only relies on the small `Retriever` protocol below; [`load_retriever`] opens an index folder through
``addressvlm.retrieval.load_index`` when that module exists and otherwise says that ``--rag`` is not available.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


__all__ = ["Neighbour", "Retriever", "load_retriever", "neighbour_caption"]


@dataclass
class Neighbour:
    """A street view of the index that looks like the query.

    Attributes:
        image (`str`): path of the street view.
        street (`str`): its street.
        district (`str`): its district.
        score (`float`): similarity (higher is closer).
        lat (`float`, *optional*): latitude.
        lon (`float`, *optional*): longitude.
    """

    image: str
    street: str
    district: str
    score: float
    lat: float | None = None
    lon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The neighbour as a JSON-ready dict."""
        return asdict(self)


@runtime_checkable
class Retriever(Protocol):
    """An index of street views with addresses."""

    def search(self, image, k: int = 4) -> Sequence[Neighbour]:
        """The ``k`` street views most similar to ``image`` (an RGB `PIL.Image.Image`), closest first."""


def neighbour_caption(neighbour: Neighbour) -> str:
    """``"Street, District (0.93)"``: how the demo labels a retrieved street view."""
    return f"{neighbour.street}, {neighbour.district} ({neighbour.score:.2f})"


def load_retriever(path: str | os.PathLike) -> Retriever:
    """Open a retrieval index folder.

    Raises:
        `ValueError`: retrieval is not part of this installation yet.
        `FileNotFoundError`: ``path`` does not exist.
    """
    try:
        module = importlib.import_module("addressvlm.retrieval")
    except ModuleNotFoundError as err:
        if err.name not in ("addressvlm.retrieval", "addressvlm"):
            raise
        raise ValueError(
            f"--rag {path}: retrieval indexes are not available yet in this version of addressvlm "
            "(addressvlm.retrieval is missing); run without --rag"
        ) from None
    if not Path(path).exists():
        raise FileNotFoundError(f"--rag: retrieval index {path} does not exist")
    retriever = module.load_index(path)
    if not isinstance(retriever, Retriever):
        raise TypeError(f"addressvlm.retrieval.load_index({path!r}) returned an object without search(image, k)")
    return retriever
