"""Batched answering of many questions about few images, encoding every image prefix once.

For backbones whose `BackboneSpec.supports_prefix_cache` is set (one image = one fixed block of image tokens before the
question, e.g. LLaVA-Phi-3: ``<s><|user|>\\n<image>...<image>\\n{question}<|end|>\\n<|assistant|>\\n``), the part of
every evaluation prompt before the question is the same for all questions of the image. Instead of running the vision
tower and the LLM over it once per question, :class:`SharedPrefixAnswerer` runs them once per image (a batch-1 forward
over the prefix, keeping its KV cache), then answers a batch of questions with ``model.generate(past_key_values=...)``
on the question tokens only:

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
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .answerers import AnswerBatch, Answerer, plan_batches


__all__ = ["AnswerBatch", "ImagePrefix", "SharedPrefixAnswerer", "common_prefix_length", "plan_batches"]

logger = logging.getLogger(__name__)

# Two questions that share no first character: the common prefix of their prompts is the template's image prefix.
_PROBE_QUESTIONS = ("A", "Z")


@dataclass
class ImagePrefix:
    """The cached prompt prefix of one image whose block length depends on the image (sliced backbones).

    Attributes:
        layers (`list[tuple[torch.Tensor, torch.Tensor]]`): per decoder layer, keys and values of the prefix.
        template (`list[int]`): the prefix's token ids (chat header and the image's expansion).
        expansion (`list[int]`): the ids the image placeholder expands to for this image.
        min_prefix (`int`): tokens up to the end of the image block (a row must cache at least these).
    """

    layers: list
    template: list[int]
    expansion: list[int]
    min_prefix: int


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of token id sequences."""
    return len(os.path.commonprefix([list(ids) for ids in sequences]))


class SharedPrefixAnswerer(Answerer):
    r"""
    Answers questions about images with batched, KV-cached generation that encodes each image prefix once.

    Args:
        model (`PreTrainedModel` or a `peft.PeftModel` wrapping one):
            A model whose backbone supports prefix caching: its forward takes ``input_ids``, the image processor's
            outputs and ``past_key_values``, and the image block comes before the question.
        processor (`BackboneProcessor`):
            Its processor (``build_prompt``, ``prepare_images``, ``image_expansion_ids``, ``stop_token_ids``). When
            the image block's length depends on the image (``image_count_needs_size``, MiniCPM-V's slices), each
            image gets its own prefix (`ImagePrefix`) and rows of one batch may have prefixes of different lengths:
            the shorter ones are padded after their prefix, masked, and their questions keep their own positions.
        **kwargs: ``max_new_tokens``, ``temperature``, ``top_p``, as in `Answerer`.
    """

    def __init__(self, model, processor, **kwargs):
        super().__init__(model, processor, **kwargs)
        self._image_token_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
        self._per_image = bool(getattr(processor, "image_count_needs_size", False))
        if self._per_image:  # the template depends on the image: built in `_prepare`
            self.prefix_length, self._template, self._min_prefix = 0, [], 0
            return
        template = self.prompt_ids(list(_PROBE_QUESTIONS))
        self.prefix_length = common_prefix_length(template)
        self._template = template[0][: self.prefix_length]
        image_positions = [i for i, t in enumerate(self._template) if t == self._image_token_id]
        if len(image_positions) != processor.image_token_count():
            raise ValueError(
                f"The prompt template's shared prefix holds {len(image_positions)} of the "
                f"{processor.image_token_count()} image tokens: the chat template must put the image before the "
                "question."
            )
        self._min_prefix = image_positions[-1] + 1

    # ------------------------------------------------------------------ tokens
    def prompt_ids(self, questions: Sequence[str], expansion: Sequence[int] | None = None) -> list[list[int]]:
        """Token ids of the generation prompts, the image placeholder expanded as the processor expands it.

        The placeholder is a special token and every expansion starts and ends with special tokens, so the text
        around it tokenizes alike whether it is expanded or not: the prompts are tokenized with the placeholder, then
        it is replaced by ``expansion`` (the processor's ``image_expansion_ids``; needed for sliced backbones).
        """
        proc = self.processor
        texts = [proc.build_prompt(q, with_image=True) for q in questions]
        image_ids = list(expansion) if expansion is not None else proc.image_expansion_ids()
        expanded = []
        for ids in proc.tokenizer(texts, add_special_tokens=False)["input_ids"]:
            at = ids.index(self._image_token_id)
            expanded.append(ids[:at] + image_ids + ids[at + 1 :])
        return expanded

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
        proc = self.processor
        if not isinstance(image, torch.Tensor):
            image = proc.image_processor(images=proc.prepare_images([image]), return_tensors="pt")["pixel_values"]
        pixel_values = image.reshape(1, *image.shape[-3:]).to(self.device, self.model.dtype)
        return self._cache(self._template, pixel_values=pixel_values)

    def _cache(self, template: list[int], **image_inputs) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The per-layer (keys, values) of one forward over the prefix ``template`` with the image's inputs."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self._config())
        input_ids = torch.tensor([template], device=self.device)
        # the prefix's logits are never used
        self.model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1, **image_inputs)
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

        # Per row, the cached length: the row's prefix, keeping at least one prompt token uncached (generate needs
        # it to produce the first logits).
        shared = []
        for prefix, ids in zip(prefixes, prompt_ids):
            own = isinstance(prefix, ImagePrefix)
            template, minimum = (prefix.template, prefix.min_prefix) if own else (self._template, self._min_prefix)
            length = min(common_prefix_length([template, ids]), len(ids) - 1)
            if length < minimum:
                raise ValueError(
                    f"The prompts share only {length} leading tokens, fewer than the {minimum} that end the "
                    "image block; were they built with the processor's chat template?"
                )
            shared.append(length)
        longest = max(shared)
        pad = self.processor.tokenizer.pad_token_id
        width = longest + max(len(ids) - n for ids, n in zip(prompt_ids, shared))
        window = getattr(self._config().get_text_config(), "sliding_window", None)
        if window is not None and width + self.generate_kwargs["max_new_tokens"] > window:
            # The padding between prefix and question would take slots of the window: answers would differ.
            raise ValueError(
                f"The model's sliding attention window ({window} tokens) is shorter than prompt + answer "
                f"({width} + {self.generate_kwargs['max_new_tokens']} tokens); use generate_answers instead."
            )
        rows, masks = [], []
        for ids, n in zip(prompt_ids, shared):
            gap = width - n - (len(ids) - n)  # after the (cached) prefix: filler up to `longest`, then padding
            rows.append(list(ids[:n]) + [pad] * gap + list(ids[n:]))
            masks.append([1] * n + [0] * gap + [1] * (len(ids) - n))
        per_row = [prefix.layers if isinstance(prefix, ImagePrefix) else prefix for prefix in prefixes]

        def cached(tensor, n):  # the row's prefix, zero-filled (and masked) up to the longest
            return torch.nn.functional.pad(tensor[:, :, :n], (0, 0, 0, longest - n))

        layers = [
            (
                torch.cat([cached(row[layer][0], n) for row, n in zip(per_row, shared)]),
                torch.cat([cached(row[layer][1], n) for row, n in zip(per_row, shared)]),
            )
            for layer in range(len(per_row[0]))
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

    # ------------------------------------------------------------------ Answerer hooks
    def _prepare(self, image):
        """Encode the image's prefix (a missing or undecodable file raises, see `Answerer.iter_batches`)."""
        if not self._per_image:
            return self.encode_prefix(image)
        return self._image_prefix(self.processor.prepare_images(image))

    @torch.inference_mode()
    def _image_prefix(self, image) -> ImagePrefix:
        proc = self.processor
        expansion = proc.image_expansion_ids(image.size)
        probes = self.prompt_ids(list(_PROBE_QUESTIONS), expansion)
        template = probes[0][: common_prefix_length(probes)]
        at = probes[0].index(expansion[0])
        min_prefix = at + len(expansion)
        if len(template) < min_prefix:
            raise ValueError("The chat template must put the image before the question to share its prefix")
        inputs = proc.image_processor([image], return_tensors="pt")
        inputs = {k: v.to(self.device, self.model.dtype) if v.is_floating_point() else v.to(self.device)
                  for k, v in inputs.items()}  # fmt: skip
        self.prefix_length = max(self.prefix_length, len(template))
        return ImagePrefix(self._cache(template, **inputs), template, expansion, min_prefix)

    def _answer(self, prepared: Sequence, questions: Sequence[str]) -> list[str]:
        if not self._per_image:
            return self.generate(prepared, self.prompt_ids(questions))
        ids = [self.prompt_ids([question], prefix.expansion)[0] for prefix, question in zip(prepared, questions)]
        return self.generate(prepared, ids)
