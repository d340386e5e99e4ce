"""What `ask --rag` and the demo need from a retrieval index: similar street views with their addresses.

Retrieval indexes are built by ``addressvlm.retrieval`` (``addressvlm index build``; it needs the ``[retrieval]``
extra). The demo only relies on the small `Retriever` protocol below. [`load_retriever`] opens an index
folder as ``addressvlm.retrieval.AddressIndex`` (FAISS vectors of street views plus a table of their addresses) and
wraps it; where that module cannot be imported it says that ``--rag`` is not available.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


__all__ = ["IndexRetriever", "Neighbour", "Retriever", "load_retriever", "neighbour_caption"]


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


@runtime_checkable
class Retriever(Protocol):
    """An index of street views with addresses."""

    def search(self, image, k: int = 4) -> Sequence[Neighbour]:
        """The ``k`` street views most similar to ``image`` (an RGB `PIL.Image.Image`), closest first."""


def neighbour_caption(neighbour: Neighbour) -> str:
    """``"Street, District (0.93)"``: how the demo labels a retrieved street view."""
    return f"{neighbour.street}, {neighbour.district} ({neighbour.score:.2f})"


class IndexRetriever:
    """A `Retriever` over an ``addressvlm.retrieval.AddressIndex``: embeds the query with the index's own encoder.

    Args:
        index (`AddressIndex`): a loaded index (``encoder()``, ``search(vectors, k)``, ``rows``).
        device (`str`, *optional*, defaults to ``"cpu"``): where the encoder runs.
    """

    def __init__(self, index, device: str = "cpu"):
        self.index = index
        self.device = device

    def search(self, image, k: int = 4) -> list[Neighbour]:
        """The ``k`` indexed street views closest to ``image`` (a PIL image or a path), closest first."""
        vectors = self.index.encoder(self.device).embed([image])
        rows, scores = self.index.search(vectors, k)
        found = []
        for number, score in zip(rows[0], scores[0]):
            row = self.index.rows[int(number)]
            address = {key: str(row[key]) for key in ("image", "street", "district")}
            found.append(Neighbour(**address, score=float(score), lat=row.get("lat"), lon=row.get("lon")))
        return found


def load_retriever(path: str | os.PathLike, device: str = "cpu") -> Retriever:
    """Open a retrieval index folder (``addressvlm index build``) as a `Retriever`.

    Raises:
        `ValueError`: retrieval is not part of this installation yet.
        `FileNotFoundError`: ``path`` does not exist or is not an index folder.
    """
    try:
        module = importlib.import_module("addressvlm.retrieval")
    except ModuleNotFoundError as err:
        if err.name not in ("addressvlm.retrieval", "addressvlm"):
            raise
        module = None
    if module is None or not hasattr(module, "AddressIndex"):
        raise ValueError(
            f"--rag {path}: retrieval indexes are not available yet in this version of addressvlm "
            "(addressvlm.retrieval.AddressIndex is missing); run without --rag"
        )
    if not Path(path).exists():
        raise FileNotFoundError(f"--rag: retrieval index {path} does not exist")
    return IndexRetriever(module.AddressIndex.load(path), device=device)
