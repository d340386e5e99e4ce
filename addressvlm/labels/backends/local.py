"""Labelling with a local model loaded by the project's loaders (batched ``generate`` on CPU or GPU)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from addressvlm.labels.backends.base import BackendError, LabelBackend, LabelRequest, LabelResult, ResultCallback


__all__ = ["LocalBackend"]

logger = logging.getLogger(__name__)


class LocalBackend(LabelBackend):
    """Generate labels with any checkpoint [`addressvlm.models.load_pretrained`] can load.

    Requests with the same generation settings are batched (`batch_size` at a time) through
    [`addressvlm.inference.generation.generate_answers`], which applies the chat template, places the image token,
    left-pads and decodes only the new tokens. The model is loaded on the first call.

    Args:
        model (`str`):
            Local path or Hub id of the labelling model.
        adapter (`str`, *optional*):
            A PEFT adapter to apply on top of `model`.
        torch_dtype (`str`, *optional*):
            Weight dtype, e.g. ``bfloat16``; `None` keeps the loader's default.
        batch_size (`int`, *optional*, defaults to 8):
            Images per forward pass.
        device (`str`, *optional*):
            Where to run, e.g. ``cuda:0``; defaults to ``cuda`` when available, else ``cpu``.
        loaded (`tuple`, *optional*):
            An already loaded ``(model, processor)`` pair (skips loading; for tests and notebooks).
    """

    name = "local"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        torch_dtype: str | None = None,
        batch_size: int = 8,
        device: str | None = None,
        loaded: tuple[Any, Any] | None = None,
    ):
        super().__init__(model, batch_size=batch_size)
        self.adapter = adapter
        self.torch_dtype = torch_dtype
        self.device = device
        self._loaded = loaded

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "adapter": self.adapter, "torch_dtype": self.torch_dtype, "device": self.device}

    def key_fields(self) -> dict[str, object]:
        return {"adapter": self.adapter, "torch_dtype": self.torch_dtype}

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from addressvlm.models import load_pretrained

            logger.info("loading the labelling model %s", self.model)
            try:
                kwargs = {"torch_dtype": self.torch_dtype} if self.torch_dtype else {}
                model, processor = load_pretrained(self.model, adapter=self.adapter, **kwargs)
            except (OSError, ValueError) as err:
                raise BackendError(f"cannot load the labelling model {self.model!r}: {err}") from err
            import torch

            self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._loaded = (model.to(self.device).eval(), processor)
        return self._loaded

    def _run_chunk(self, chunk: Sequence[LabelRequest]) -> list[str]:
        from addressvlm.inference.generation import generate_answers

        model, processor = self._load()
        first = chunk[0]
        sample = first.temperature > 0
        return generate_answers(
            model,
            processor,
            [r.image for r in chunk],
            [r.prompt for r in chunk],
            max_new_tokens=first.max_new_tokens,
            do_sample=sample,
            temperature=first.temperature if sample else None,
            top_p=first.top_p if sample else None,
            batch_size=len(chunk),
            seed=first.seed,
        )

    def generate(self, requests: Sequence[LabelRequest], callback: ResultCallback | None = None) -> list[LabelResult]:
        self._load()
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            settings = (request.max_new_tokens, request.temperature, request.top_p, request.seed)
            groups.setdefault(settings, []).append(index)
        results: list[LabelResult | None] = [None] * len(requests)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size):
                part = indices[start : start + self.batch_size]
                for index, result in zip(part, self._generate_part([requests[i] for i in part])):
                    results[index] = result
                    if callback is not None:
                        callback(index, result)
        return results  # type: ignore[return-value]

    def _generate_part(self, chunk: Sequence[LabelRequest]) -> list[LabelResult]:
        self.stats["requests"] += len(chunk)
        try:
            texts = self._run_chunk(chunk)
        except (OSError, ValueError, RuntimeError) as err:
            if len(chunk) == 1:
                self.stats["failed"] += 1
                logger.warning("%s: generation failed: %s", chunk[0].tag or chunk[0].image, err)
                return [LabelResult(None, f"{type(err).__name__}: {err}")]
            # Isolate the bad input: retry the chunk one request at a time.
            logger.warning("batch of %d failed (%s); retrying one by one", len(chunk), err)
            self.stats["batch_splits"] += 1
            return [self._generate_part([request])[0] for request in chunk]
        if len(texts) != len(chunk):
            raise BackendError(f"generate_answers returned {len(texts)} answers for {len(chunk)} inputs")
        self.stats["succeeded"] += len(chunk)
        return [LabelResult(text) for text in texts]
