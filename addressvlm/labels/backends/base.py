"""The interface every labelling backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass


__all__ = ["BackendError", "LabelBackend", "LabelRequest", "LabelResult", "ResultCallback"]


class BackendError(RuntimeError):
    """A failure that no retry can fix (bad credentials, unknown model, wrong URL): the run stops."""


@dataclass(frozen=True)
class LabelRequest:
    """One generation request: an image and a user prompt.

    Args:
        image (`str`):
            Path of the image file.
        prompt (`str`):
            The user text, without any ``<image>`` token (the backend places the image).
        max_new_tokens (`int`, *optional*, defaults to 160):
            Generation length limit.
        temperature (`float`, *optional*, defaults to 0.0):
            Sampling temperature; 0 means greedy decoding.
        top_p (`float`, *optional*):
            Nucleus sampling threshold; `None` leaves the backend default.
        seed (`int`, *optional*):
            Sampling seed, where the backend supports one.
        tag (`str`, *optional*, defaults to `""`):
            Caller's identifier (row id), used in log messages only.
    """

    image: str
    prompt: str
    max_new_tokens: int = 160
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    tag: str = ""


@dataclass(frozen=True)
class LabelResult:
    """The outcome of one request.

    Args:
        text (`str`, *optional*):
            The generated text; `None` when the request failed after all retries.
        error (`str`, *optional*):
            Why the request failed.
    """

    text: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """`bool`: whether the backend returned text."""
        return self.text is not None


ResultCallback = Callable[[int, LabelResult], None]


class LabelBackend(ABC):
    """A labelling model behind a batched call.

    Subclasses set `name` (``local``, ``http``) and implement [`~LabelBackend.generate`].

    Args:
        model (`str`):
            Model path or id; recorded in cache keys and `build_info.json`.
        batch_size (`int`, *optional*, defaults to 8):
            How many requests the runner hands over per [`~LabelBackend.generate`] call.
    """

    name: str = "base"

    def __init__(self, model: str, batch_size: int = 8):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self.stats: Counter[str] = Counter()  # events: requests, retries, timeouts, ...

    @abstractmethod
    def generate(self, requests: Sequence[LabelRequest], callback: ResultCallback | None = None) -> list[LabelResult]:
        """Run a batch of requests.

        Args:
            requests (`Sequence[LabelRequest]`):
                The batch.
            callback (`Callable[[int, LabelResult], None]`, *optional*):
                Called in the calling thread with ``(index, result)`` as soon as each result is available, so the
                caller can persist it before the batch ends.

        Returns:
            `list[LabelResult]`: one result per request, in order. Per-request failures are results with
            ``text=None``; they do not raise.

        Raises:
            [`BackendError`]: for failures that affect every request (authentication, missing model).
        """

    def describe(self) -> dict[str, object]:
        """`dict`: backend identity and settings for `build_info.json` (never secrets)."""
        return {"backend": self.name, "model": self.model, "batch_size": self.batch_size}

    def key_fields(self) -> dict[str, object]:
        """`dict`: backend options that change the generated text (they go into cache keys besides the model)."""
        return {}

    def close(self) -> None:  # noqa: B027 -- optional hook, most backends hold nothing
        """Release resources (threads, model memory)."""

    def __enter__(self) -> LabelBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
