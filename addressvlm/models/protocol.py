"""The processor contract every backbone implements (`BackboneProcessor`).

Training, evaluation, the probe and the labeller use a backbone's processor only through these members. Each is a
transformers `ProcessorMixin` (so ``save_pretrained`` / ``from_pretrained`` / ``apply_chat_template`` work) plus:

* **training examples** -- `build_training_example` tokenizes one backbone-neutral conversation with its image and
  builds the label mask from the chat template's ``{% generation %}`` spans;
* **collation** -- `collate_image_inputs` turns the image tensors of several examples into one batch (a stack of
  fixed-size images, or padded slices with their sizes);
* **prompts** -- `build_prompt` renders one question with the generation prompt; ``__call__(images=..., text=...,
  padding=True, padding_side="left", return_tensors="pt")`` gives the inputs of ``model.generate``;
* **stopping** -- `stop_token_ids`;
* **lengths** -- `image_token_count` (tokens one image expands to, for the length column and truncation) and
  `image_count_needs_size` (whether that count depends on the image's size).

Models follow the plain transformers convention: ``forward(input_ids, attention_mask, position_ids,
past_key_values, labels, **image_inputs)`` returning a `CausalLMOutputWithPast`, with `GenerationMixin`, so the
stock `Trainer` and ``generate`` work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


__all__ = ["BackboneProcessor"]


@runtime_checkable
class BackboneProcessor(Protocol):
    r"""
    What every backbone's processor provides (structural: no base class needed).

    Attributes:
        tokenizer (`PreTrainedTokenizerBase`): has a pad token.
        image_token (`str`): the placeholder the chat template writes for an image; the processor expands it.
        max_text_length (`int` or `None`): text-token budget of a training example (image tokens not counted).
        truncation_stats (`dict[str, int]`): ``examples``, ``truncated``, ``tokens_dropped`` so far.
        image_count_needs_size (`bool`): `image_token_count` needs the image size (sliced backbones).
    """

    tokenizer: Any
    image_token: str
    max_text_length: int | None
    truncation_stats: dict[str, int]
    image_count_needs_size: bool

    def build_training_example(self, conversation: Sequence[Mapping[str, Any]], image=None) -> dict[str, Any]:
        """One conversation (``from``/``value`` turns without image placeholders, or chat messages) and its image
        (path or PIL image) -> ``input_ids`` and ``labels`` (1-D) plus this example's image tensors (keys of the
        model's ``forward``); labels are ``-100`` outside the trained answer spans."""

    def collate_image_inputs(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The batch's image tensors from the examples' (rows without an image contribute nothing); ``{}`` when no
        example has an image."""

    def build_prompt(self, question: str, with_image: bool = True) -> str:
        """The generation prompt of one question (chat template, image placeholder, assistant header)."""

    @property
    def stop_token_ids(self) -> list[int]:
        """Token ids that end an answer."""

    def image_token_count(self, image_size: tuple[int, int] | None = None) -> int:
        """Tokens one image of ``image_size`` (width, height) expands to in the text."""

    def image_expansion_ids(self, image_size: tuple[int, int] | None = None) -> list[int]:
        """The token ids one image of ``image_size`` expands to (``image_token_count`` of them)."""

    def prepare_images(self, images):
        """Open paths as upright RGB (and apply the backbone's own image preparation); keeps list nesting."""
