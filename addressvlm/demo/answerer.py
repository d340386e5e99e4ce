"""One loaded model answering address questions about photos: what `addressvlm ask` and the demo call.

[`AddressAnswerer`] holds a model and its processor (loaded once, with `addressvlm.models.load_pretrained`, so any
checkpoint or adapter folder of any registered backbone works), opens images with the project's one loader
(`addressvlm.utils.images.open_rgb`: EXIF orientation, 16-bit images, errors that name the file) and answers with
the batched generation of `addressvlm.inference.generate_answers`, greedy. Yes/no and multiple-choice answers are
read with the ``address_accuracy`` metric's own parsers, so the demo reads an answer exactly as evaluation scores it.

Example::

    answerer = AddressAnswerer.from_pretrained("runs/addressvlm")
    for image, answers in zip(images, answerer.ask(["a.jpg", "b.jpg"])):
        print(answers["street"].answer)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .questions import STANDARD_QUESTIONS, judgement_question, multiple_choice_question


__all__ = ["Answer", "AddressAnswerer", "check_model", "load_images"]

ImageInput = Any
"""A path (``str`` / ``os.PathLike``) or a `PIL.Image.Image`."""


@dataclass
class Answer:
    """One answer of the model.

    Attributes:
        key (`str`): what was asked: ``district``, ``street``, ``street_district``, ``question`` (free text),
            ``judgement`` or ``multiple_choice``.
        question (`str`): the question as the model saw it.
        answer (`str`): the model's text.
        parsed (`str`, *optional*): for a judgement ``"yes"`` / ``"no"``, for a multiple choice the letter, as the
            metric reads them; `None` when the answer is not a valid one (or for generation questions).
        seconds (`float`): wall time of the answer's share of its batch.
    """

    key: str
    question: str
    answer: str
    parsed: str | None = None
    seconds: float = 0.0


def check_model(model: str | os.PathLike, adapter: str | os.PathLike | None = None) -> None:
    """Fail fast, naming the folder, when ``model`` (or ``adapter``) is not a checkpoint or adapter folder.

    A local folder must hold ``config.json`` or ``adapter_config.json``; anything else must be a Hub id that is
    cached (or reachable). Nothing is loaded.

    Raises:
        `FileNotFoundError` / `NotADirectoryError`: naming the path.
    """
    for path, what in ((model, "MODEL"), (adapter, "--adapter")):
        if path is None:
            continue
        local = Path(path)
        if local.is_dir():
            if not any((local / name).is_file() for name in ("config.json", "adapter_config.json")):
                raise FileNotFoundError(
                    f"{what} {path}: no config.json or adapter_config.json in it; not a model checkpoint or adapter "
                    "folder (a training run writes them at the top of its output_dir)"
                )
        elif local.exists():
            raise NotADirectoryError(f"{what} {path} is a file; expected a checkpoint or adapter folder")
        else:
            from addressvlm.models import resolve_checkpoint_dir

            try:
                resolve_checkpoint_dir(path)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"{what} {path}: no such folder, nor the id of a Hub model that can be loaded here "
                    "(offline: a cached one)"
                ) from None


def load_images(images: Sequence[ImageInput]) -> list:
    """Open every image (`addressvlm.utils.images.load_rgb`) before any model runs.

    Raises:
        `FileNotFoundError` / `ValueError`: for the first missing or undecodable file, naming it.
    """
    from addressvlm.utils.images import load_rgb

    def load(image):
        if isinstance(image, (str, os.PathLike)) and Path(image).is_dir():
            raise IsADirectoryError(f"{Path(image)} is a folder, not an image file")
        return load_rgb(image)

    return [load(image) for image in images]


class AddressAnswerer:
    r"""
    Answers the standard address questions, free questions and yes/no or multiple-choice checks about photos.

    Args:
        model (`PreTrainedModel` or `peft.PeftModel`):
            The model, on its device, in eval mode.
        processor:
            Its processor.
        name (`str`, *optional*):
            How to call the model in outputs (defaults to the class name).
        max_new_tokens (`int`, *optional*, defaults to 32):
            Answer length limit.
        batch_size (`int`, *optional*, defaults to 8):
            (image, question) pairs per `generate` call.
        metric_path (`str` or `os.PathLike`, *optional*):
            Folder of the ``address_accuracy`` metric whose parsers read yes/no and multiple-choice answers.
    """

    def __init__(
        self,
        model,
        processor,
        *,
        name: str | None = None,
        max_new_tokens: int = 32,
        batch_size: int = 8,
        metric_path: str | os.PathLike | None = None,
    ):
        from addressvlm.inference.metric import load_address_accuracy, metric_functions

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.processor = processor
        self.name = name or type(model).__name__
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.metric = metric_functions(load_address_accuracy(metric_path))

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike,
        adapter: str | os.PathLike | None = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        progress: Callable[[float, str], None] | None = None,
        **kwargs,
    ) -> AddressAnswerer:
        """Load a checkpoint (or adapter folder) once and wrap it.

        Args:
            model (`str` or `os.PathLike`): a checkpoint folder, an adapter folder or a Hub id (see
                `addressvlm.models.load_pretrained`).
            adapter (`str` or `os.PathLike`, *optional*): an adapter folder to apply on top of ``model``.
            device (`str`, *optional*, defaults to ``"auto"``): torch device; ``auto`` picks CUDA when available.
            dtype (`str`, *optional*, defaults to ``"auto"``): bfloat16 on a GPU that supports it, else float32.
            progress (`Callable[[float, str], None]`, *optional*): called with (fraction done, what happens now).
            **kwargs: passed to [`AddressAnswerer`] (``max_new_tokens``, ``batch_size``, ``metric_path``).
        """
        from addressvlm.inference.cli import _device, _dtype
        from addressvlm.models import load_pretrained

        report = progress or (lambda fraction, text: None)
        report(0.05, f"reading the model {model}")
        torch_device = _device(device)
        model_obj, processor = load_pretrained(model, adapter=adapter, torch_dtype=_dtype(dtype, torch_device))
        report(0.75, f"moving the model to {torch_device.type}")
        model_obj = model_obj.to(torch_device).eval()
        report(0.9, "loading the address_accuracy metric")
        name = str(kwargs.pop("name", None) or Path(str(adapter or model)).name)
        answerer = cls(model_obj, processor, name=name, **kwargs)
        report(1.0, "model ready")
        return answerer

    def warm_up(self) -> float:
        """Answer one short question about a blank image, so that the first real answer is not slowed by one-time
        set-up (kernel selection, allocations); returns the seconds it took."""
        from PIL import Image

        blank = Image.new("RGB", (64, 64), (128, 128, 128))  # the processor resizes it like any photo
        began = time.perf_counter()
        self._answer([blank], [STANDARD_QUESTIONS["street"]])
        return time.perf_counter() - began

    # ------------------------------------------------------------------------------------------------ answering
    def _answer(self, images: Sequence, questions: Sequence[str]) -> tuple[list[str], float]:
        from addressvlm.inference import generate_answers

        began = time.perf_counter()
        answers = generate_answers(
            self.model,
            self.processor,
            images,
            questions,
            max_new_tokens=self.max_new_tokens,
            batch_size=self.batch_size,
        )
        return answers, time.perf_counter() - began

    def ask(
        self, images: Sequence[ImageInput], questions: Mapping[str, str] | Sequence[str] | None = None
    ) -> list[dict[str, Answer]]:
        """Ask every question about every image, all (image, question) pairs in batches.

        Args:
            images (`Sequence`): paths or PIL images; every file is opened (and checked) before the model runs.
            questions (`Mapping[str, str]` or `Sequence[str]`, *optional*): ``{key: question}``, or a list of
                free questions (keys ``question``, ``question 2``, ...). Defaults to `STANDARD_QUESTIONS`.

        Returns:
            `list[dict[str, Answer]]`: per image, key -> answer, in the order of ``questions``.
        """
        opened = load_images(images)
        if questions is None:
            questions = STANDARD_QUESTIONS
        if not isinstance(questions, Mapping):
            texts = [str(q).strip() for q in questions]
            if not all(texts):
                raise ValueError("a question is empty")
            questions = {("question" if i == 0 else f"question {i + 1}"): q for i, q in enumerate(texts)}
        if not questions:
            raise ValueError("no question to ask")
        pairs = [(i, key) for i in range(len(opened)) for key in questions]
        texts, seconds = self._answer([opened[i] for i, _ in pairs], [questions[key] for _, key in pairs])
        share = seconds / max(len(pairs), 1)
        results: list[dict[str, Answer]] = [{} for _ in opened]
        for (i, key), text in zip(pairs, texts):
            results[i][key] = Answer(key=key, question=questions[key], answer=text, seconds=share)
        return results

    def check_yes_no(self, image: ImageInput, level: str, name: str) -> Answer:
        """Ask whether ``image`` was taken on street / in district ``name``; ``parsed`` is ``yes``, ``no`` or `None`.

        Args:
            image: a path or PIL image.
            level (`str`): ``street`` or ``district``.
            name (`str`): the name to check.
        """
        question = judgement_question(level, name)
        texts, seconds = self._answer(load_images([image]), [question])
        return Answer("judgement", question, texts[0], self.metric.parse_judgement(texts[0]), seconds)

    def choose(self, image: ImageInput, level: str, options: Sequence[str]) -> Answer:
        """Ask which of four ``options`` (A-D) names the image's street or district; ``parsed`` is the letter.

        Args:
            image: a path or PIL image.
            level (`str`): ``street`` or ``district``.
            options (`Sequence[str]`): four names, option A first.
        """
        question = multiple_choice_question(level, options)
        options = [str(option).strip() for option in options if str(option).strip()]
        texts, seconds = self._answer(load_images([image]), [question])
        letter = self.metric.parse_multiple_choice(texts[0], options, level)
        return Answer("multiple_choice", question, texts[0], letter, seconds)
