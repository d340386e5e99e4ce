"""Answering many questions about images in planned, resumable batches: the loop every answerer shares.

`Answerer.iter_batches` plans batches from the question count alone (so a resumed run recomputes a batch exactly
as the uninterrupted one would), loads each image once while its questions are answered, turns an unreadable image
into per-question errors, and seeds sampling per batch. Subclasses say how an image is prepared and how a batch is
answered:

* `BatchedAnswerer` -- plain batched ``model.generate`` on left-padded prompts, every row with its image: works for
  every backbone;
* `addressvlm.inference.shared_prefix.SharedPrefixAnswerer` -- encodes each image's prompt prefix once and reuses
  its KV cache, for backbones whose `BackboneSpec.supports_prefix_cache` is set.

`make_answerer` picks the right one for a model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from .generation import decoding_kwargs, generate_batch


__all__ = ["AnswerBatch", "Answerer", "BatchedAnswerer", "make_answerer", "plan_batches"]

logger = logging.getLogger(__name__)


@dataclass
class AnswerBatch:
    """Answers to the questions ``start .. stop - 1`` (positions in the caller's question list).

    Attributes:
        start (`int`): first question position.
        stop (`int`): one past the last question position.
        answers (`list[str | None]`): decoded answers; `None` where the question's image could not be read.
        errors (`dict[int, str]`): question position -> error message, for those questions.
    """

    start: int
    stop: int
    answers: list[str | None]
    errors: dict[int, str]


def plan_batches(n_questions: int, batch_size: int) -> list[range]:
    """Split question positions ``0..n_questions-1`` into consecutive batches of ``batch_size`` (the last shorter),
    whatever is already answered (see the module docstring)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [range(s, min(s + batch_size, n_questions)) for s in range(0, n_questions, batch_size)]


class Answerer:
    r"""
    Base class: the batching loop. Subclasses implement ``_prepare(image)`` (load / encode one image; raise
    `FileNotFoundError`, `ValueError` or `OSError` when it cannot be read) and ``_answer(prepared, questions)``.

    Args:
        model (`PreTrainedModel` or `peft.PeftModel`): the model, on its device, in eval mode.
        processor (`BackboneProcessor`): its processor.
        max_new_tokens (`int`, *optional*, defaults to 32): answer length limit.
        temperature (`float`, *optional*): sampling temperature; greedy decoding when `None` or 0.
        top_p (`float`, *optional*): nucleus sampling (with a temperature).
    """

    prefix_length: int = 0
    """Prompt tokens computed once per image and shared by its questions (0: none)."""

    def __init__(
        self, model, processor, max_new_tokens: int = 32, temperature: float | None = None, top_p: float | None = None
    ):
        self.model = model
        self.processor = processor
        self.do_sample = bool(temperature)
        self.generate_kwargs = decoding_kwargs(
            processor, max_new_tokens=max_new_tokens, do_sample=self.do_sample, temperature=temperature, top_p=top_p
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _prepare(self, image):
        raise NotImplementedError

    def _answer(self, prepared: Sequence, questions: Sequence[str]) -> list[str]:
        raise NotImplementedError

    def _safe_prepare(self, image):
        """`_prepare`, or the exception when the image file is missing or cannot be decoded."""
        try:
            return self._prepare(image)
        except (FileNotFoundError, ValueError, OSError) as err:
            logger.warning("Skipping the questions of image %s: %s", image if isinstance(image, str) else "<PIL>", err)
            return err

    def iter_batches(
        self,
        images: Sequence,
        image_index: Sequence[int],
        questions: Sequence[str],
        batch_size: int = 16,
        skip: Callable[[range], bool] | None = None,
        seed: int | None = None,
    ) -> Iterator[AnswerBatch]:
        """Answer ``questions[i]`` about ``images[image_index[i]]`` in batches of ``batch_size`` questions.

        Keep the questions of one image contiguous: a prepared image is kept only while the next batch still needs
        it (a non-contiguous image is prepared again, which is correct but slower).

        Args:
            images (`Sequence`): image sources (paths or PIL images), indexed by ``image_index``.
            image_index (`Sequence[int]`): per question, its image.
            questions (`Sequence[str]`): the questions, without an image placeholder.
            batch_size (`int`, *optional*, defaults to 16): questions per `generate` call.
            skip (`Callable[[range], bool]`, *optional*): called with each planned batch's positions; a batch for
                which it returns `True` is not computed (resuming).
            seed (`int`, *optional*): with sampling, torch is seeded with ``seed + batch number`` before each batch
                (inside `torch.random.fork_rng`, so the caller's RNG state is untouched).

        Yields:
            `AnswerBatch`: one per computed batch, in order.
        """
        if len(image_index) != len(questions):
            raise ValueError(f"Got {len(image_index)} image indices for {len(questions)} questions")
        store: dict[int, object] = {}
        for number, positions in enumerate(plan_batches(len(questions), batch_size)):
            if skip is not None and skip(positions):
                continue
            needed = {image_index[i] for i in positions}
            store = {key: prepared for key, prepared in store.items() if key in needed}  # frees the others first
            store.update({key: self._safe_prepare(images[key]) for key in sorted(needed - store.keys())})
            ok = [i for i in positions if not isinstance(store[image_index[i]], Exception)]
            errors = {
                i: f"{type(store[image_index[i]]).__name__}: {store[image_index[i]]}" for i in positions if i not in ok
            }
            answers: dict[int, str] = {}
            if ok:
                devices = [self.device] if self.device.type == "cuda" else []
                with torch.random.fork_rng(devices=devices, enabled=self.do_sample and seed is not None):
                    if self.do_sample and seed is not None:
                        torch.manual_seed(seed + number)
                    texts = self._answer([store[image_index[i]] for i in ok], [questions[i] for i in ok])
                answers = dict(zip(ok, texts))
            yield AnswerBatch(positions.start, positions.stop, [answers.get(i) for i in positions], errors)


class BatchedAnswerer(Answerer):
    r"""
    Plain batched ``generate``: each batch is one left-padded `generate` call in which every row carries its image.
    Works for any backbone (ragged images included); each image is decoded once while its questions are answered.

    Args: see `Answerer`.
    """

    def _prepare(self, image):
        return self.processor.prepare_images(image)  # decoded (and checked) once; the processor encodes per batch

    @torch.inference_mode()
    def _answer(self, prepared: Sequence, questions: Sequence[str]) -> list[str]:
        return generate_batch(self.model, self.processor, prepared, questions, self.generate_kwargs)


def make_answerer(model, processor, **kwargs) -> Answerer:
    """`SharedPrefixAnswerer` where the model's backbone supports prefix caching, else `BatchedAnswerer`.

    Args:
        model (`PreTrainedModel` or `peft.PeftModel`): the model.
        processor (`BackboneProcessor`): its processor.
        **kwargs: ``max_new_tokens``, ``temperature``, ``top_p``.
    """
    from addressvlm.models import get_backbone

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if get_backbone(base.config).supports_prefix_cache:
        from .shared_prefix import SharedPrefixAnswerer

        return SharedPrefixAnswerer(model, processor, **kwargs)
    return BatchedAnswerer(model, processor, **kwargs)
