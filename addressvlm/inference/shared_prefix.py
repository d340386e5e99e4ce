"""Batched answering of many questions about few images, encoding every image prefix once.

Every evaluation prompt of an image is ``<s><|user|>\\n<image>...<image>\\n{question}<|end|>\\n<|assistant|>\\n``:
the part before the question (with the 576 image tokens of CLIP ViT-L/14-336) is the same for all questions of the
image. Instead of running the vision tower and the LLM over it once per question, :class:`SharedPrefixAnswerer`
runs them once per image (a batch-1 forward over the prefix, keeping its KV cache), then answers a batch of
questions with ``model.generate(past_key_values=...)`` on the question tokens only:

* the batch's cache holds, row by row, the prefix keys/values of each question's image (repeated as needed);
* the inputs are ``[prefix][pad ... pad][question suffix]`` -- padding sits *between* the cached prefix and the
  question, masked by the attention mask, so the prefix keeps positions ``0..P-1`` and each question continues at
  ``P`` exactly as in an unpadded single-question run (``generate`` derives the position ids from the mask);
* ``generate`` sees a cache of length ``P`` and feeds only the uncached tokens, with KV caching for decoding.

Encoding each prefix alone (batch 1) makes it independent of how questions are batched, so answers depend on the
batch only through the question decoding, and an interrupted run that resumes mid-image gets the same prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from .generation import decoding_kwargs


__all__ = ["AnswerBatch", "SharedPrefixAnswerer", "common_prefix_length", "plan_batches"]

logger = logging.getLogger(__name__)

# Two questions that share no first character: the common prefix of their prompts is the template's image prefix.
_PROBE_QUESTIONS = ("A", "Z")


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


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of token id sequences."""
    if not sequences:
        return 0
    first, length = sequences[0], min(len(s) for s in sequences)
    for seq in sequences[1:]:
        n = 0
        while n < length and seq[n] == first[n]:
            n += 1
        length = n
    return length


def plan_batches(n_questions: int, batch_size: int) -> list[range]:
    """Split question positions ``0..n_questions-1`` into consecutive batches of ``batch_size`` (the last shorter).

    The plan depends only on the number of questions and the batch size, never on which questions are already
    answered, so a resumed run recomputes a batch exactly as the uninterrupted run would.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [range(s, min(s + batch_size, n_questions)) for s in range(0, n_questions, batch_size)]


class SharedPrefixAnswerer:
    r"""
    Answers questions about images with batched, KV-cached generation that encodes each image prefix once.

    Args:
        model (`LlavaForConditionalGeneration`, a subclass, or a `peft.PeftModel` wrapping one):
            A LLaVA-style model whose forward takes ``input_ids``, ``pixel_values`` and ``past_key_values``.
        processor (`LlavaPhi3Processor`):
            Its processor (``build_prompt``, ``prepare_images``, ``num_image_tokens``, ``stop_token_ids``).
        max_new_tokens (`int`, *optional*, defaults to 32):
            Answer length limit.
        temperature (`float`, *optional*):
            Sampling temperature; greedy decoding when `None` or 0.
        top_p (`float`, *optional*):
            Nucleus sampling (with a temperature).
    """

    def __init__(
        self, model, processor, max_new_tokens: int = 32, temperature: float | None = None, top_p: float | None = None
    ):
        self.model = model
        self.processor = processor
        do_sample = bool(temperature)
        self.generate_kwargs = decoding_kwargs(
            processor, max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature, top_p=top_p
        )
        self.do_sample = do_sample
        self._image_token_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
        template = self.prompt_ids(list(_PROBE_QUESTIONS))
        self.prefix_length = common_prefix_length(template)
        self._template = template[0][: self.prefix_length]
        image_positions = [i for i, t in enumerate(self._template) if t == self._image_token_id]
        if len(image_positions) != processor.num_image_tokens:
            raise ValueError(
                f"The prompt template's shared prefix holds {len(image_positions)} of the "
                f"{processor.num_image_tokens} image tokens: the chat template must put <image> before the question."
            )
        self._min_prefix = image_positions[-1] + 1

    # ------------------------------------------------------------------ tokens
    def prompt_ids(self, questions: Sequence[str]) -> list[list[int]]:
        """Token ids of the generation prompts, ``<image>`` expanded as the processor expands it.

        ``<image>`` is a special token, so the text around it tokenizes alike whether it appears once or
        ``num_image_tokens`` times: the prompts are tokenized with one and the id is repeated afterwards.
        """
        proc = self.processor
        texts = [proc.build_prompt(q, with_image=True) for q in questions]
        image_ids = [self._image_token_id] * proc.num_image_tokens
        expanded = []
        for ids in proc.tokenizer(texts, add_special_tokens=False)["input_ids"]:
            at = ids.index(self._image_token_id)
            expanded.append(ids[:at] + image_ids + ids[at + 1 :])
        return expanded

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ prefix
    @torch.inference_mode()
    def encode_prefix(self, image) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Run the vision tower and the LLM over one image's prompt prefix; return the per-layer (keys, values).

        Args:
            image (`PIL.Image.Image`, `str` or `torch.Tensor`): the image, its path, or its ``pixel_values``.

        Returns:
            `list[tuple[torch.Tensor, torch.Tensor]]`: one ``(keys, values)`` pair per decoder layer, each of shape
            ``(1, num_kv_heads, prefix_length, head_dim)``.
        """
        from transformers import DynamicCache

        proc = self.processor
        if not isinstance(image, torch.Tensor):
            image = proc.image_processor(images=proc.prepare_images([image]), return_tensors="pt")["pixel_values"]
        pixel_values = image.reshape(1, *image.shape[-3:])
        input_ids = torch.tensor([self._template], device=self.device)
        cache = DynamicCache(config=self._config())
        self.model(
            input_ids=input_ids,
            pixel_values=pixel_values.to(self.device, self.model.dtype),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,  # the prefix's logits are never used
        )
        return [(keys, values) for keys, values, *_ in cache]

    def _config(self):
        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return model.config

    # ------------------------------------------------------------------ decoding
    @torch.inference_mode()
    def generate(self, prefixes: Sequence[list], prompt_ids: Sequence[Sequence[int]]) -> list[str]:
        """Answer one batch: row ``i`` continues the cached prefix ``prefixes[i]`` with ``prompt_ids[i]``.

        Args:
            prefixes (`Sequence[list[tuple[torch.Tensor, torch.Tensor]]]`): per row, an output of `encode_prefix`
                (the same object may repeat).
            prompt_ids (`Sequence[Sequence[int]]`): per row, the full prompt ids (prefix included).

        Returns:
            `list[str]`: the decoded answers, stripped.
        """
        from transformers import DynamicCache

        # Keep at least one prompt token per row uncached: generate needs it to produce the first logits.
        shared = min(self.prefix_length, common_prefix_length([self._template, *prompt_ids]))
        shared = min(shared, min(len(ids) for ids in prompt_ids) - 1)
        if shared < self._min_prefix:
            raise ValueError(
                f"The prompts share only {shared} leading tokens, fewer than the {self._min_prefix} that end the "
                "image block; were they built with the processor's chat template?"
            )
        pad = self.processor.tokenizer.pad_token_id
        width = max(len(ids) for ids in prompt_ids)
        window = getattr(self._config().get_text_config(), "sliding_window", None)
        if window is not None and width + self.generate_kwargs["max_new_tokens"] > window:
            # The padding between prefix and question would take slots of the window: answers would differ.
            raise ValueError(
                f"The model's sliding attention window ({window} tokens) is shorter than prompt + answer "
                f"({width} + {self.generate_kwargs['max_new_tokens']} tokens); use generate_answers instead."
            )
        rows, masks = [], []
        for ids in prompt_ids:
            gap = width - len(ids)
            rows.append(list(ids[:shared]) + [pad] * gap + list(ids[shared:]))
            masks.append([1] * shared + [0] * gap + [1] * (len(ids) - shared))
        n_layers = len(prefixes[0])
        layers = [
            (
                torch.cat([prefix[layer][0][:, :, :shared] for prefix in prefixes]),
                torch.cat([prefix[layer][1][:, :, :shared] for prefix in prefixes]),
            )
            for layer in range(n_layers)
        ]
        cache = DynamicCache(ddp_cache_data=layers, config=self._config())
        attention_mask = torch.tensor(masks, device=self.device)
        # Explicit position ids (generate only derives them from the mask when the model's forward names a
        # `position_ids` parameter): the prefix keeps 0..P-1, the question continues at P whatever its padding.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        output = self.model.generate(
            input_ids=torch.tensor(rows, device=self.device),
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            **self.generate_kwargs,
        )
        texts = self.processor.batch_decode(output[:, width:], skip_special_tokens=True)
        return [text.strip() for text in texts]

    # ------------------------------------------------------------------ the loop
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

        Keep the questions of one image contiguous: a prefix is kept only while the next batch still needs it
        (a non-contiguous image is encoded again, which is correct but slower).

        Args:
            images (`Sequence`): image sources (paths or PIL images), indexed by ``image_index``.
            image_index (`Sequence[int]`): per question, its image.
            questions (`Sequence[str]`): the questions, without ``<image>``.
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
        store: dict[int, list | Exception] = {}
        for number, positions in enumerate(plan_batches(len(questions), batch_size)):
            if skip is not None and skip(positions):
                continue
            needed = {image_index[i] for i in positions}
            for key in [k for k in store if k not in needed]:
                del store[key]
            for key in sorted(needed - store.keys()):
                store[key] = self._safe_encode(images[key])
            ok = [i for i in positions if not isinstance(store[image_index[i]], Exception)]
            errors = {
                i: f"{type(store[image_index[i]]).__name__}: {store[image_index[i]]}" for i in positions if i not in ok
            }
            answers: dict[int, str] = {}
            if ok:
                with torch.random.fork_rng(devices=self._rng_devices(), enabled=self.do_sample and seed is not None):
                    if self.do_sample and seed is not None:
                        torch.manual_seed(seed + number)
                    texts = self.generate(
                        [store[image_index[i]] for i in ok], self.prompt_ids([questions[i] for i in ok])
                    )
                answers = dict(zip(ok, texts))
            yield AnswerBatch(positions.start, positions.stop, [answers.get(i) for i in positions], errors)

    def _safe_encode(self, image):
        """`encode_prefix`, or the exception when the image file is missing or cannot be decoded."""
        proc = self.processor
        try:
            pixel_values = proc.image_processor(images=proc.prepare_images([image]), return_tensors="pt")
        except (FileNotFoundError, ValueError, OSError) as err:
            logger.warning("Skipping the questions of image %s: %s", image if isinstance(image, str) else "<PIL>", err)
            return err
        return self.encode_prefix(pixel_values["pixel_values"])

    def _rng_devices(self):
        return [self.device] if self.device.type == "cuda" else []
