"""LLaVA-Phi-3 for conditional generation: a thin subclass of transformers' Llava classes.

Everything that transformers' Llava already does (vision features from layer -2 with CLS dropped, the MLP
projector, scattering features into the ``<image>`` positions, the causal-LM loss that ignores -100 and honours
``num_items_in_batch``, KV-cached ``generate`` that passes pixels only at the first step, SDPA attention) is
inherited. This class adds what the stock one lacks for our use:

* inputs are checked before the forward pass, with errors that name the problem and both counts.

Gradient checkpointing with LoRA on a frozen LLM (the "LoRA B never changes" pitfall) is handled for every backbone
by `addressvlm.training.trainable_parts.apply_trainable_parts`.
"""

from __future__ import annotations

import torch
from transformers import LlavaForConditionalGeneration

from .configuration_llava_phi3 import LlavaPhi3Config


__all__ = ["LlavaPhi3ForConditionalGeneration", "check_image_inputs"]


def check_image_inputs(
    input_ids: torch.Tensor | None,
    pixel_values: torch.Tensor | None,
    image_token_id: int,
    tokens_per_image: int,
    has_past: bool = False,
) -> None:
    """Raise a `ValueError` that names the problem when ``<image>`` tokens and images do not match.

    Args:
        input_ids (`torch.Tensor` of shape `(batch, seq)`, *optional*): token ids after ``<image>`` expansion.
        pixel_values (`torch.Tensor` of shape `(n_images, 3, H, W)`, *optional*): the images.
        image_token_id (`int`): id of ``<image>``.
        tokens_per_image (`int`): image tokens one image becomes.
        has_past (`bool`, *optional*, defaults to `False`): a KV cache already holds earlier positions (decoding
            steps carry neither pixels nor image tokens; cache-reuse prefixes may carry tokens without pixels).
    """
    if input_ids is None:
        return
    n_tokens = int((input_ids == image_token_id).sum())
    n_images = 0 if pixel_values is None else int(pixel_values.shape[0])
    if n_images and not n_tokens:
        raise ValueError(
            f"Got pixel_values for {n_images} image(s) but the text has no <image> token (id {image_token_id}). "
            "Put '<image>' in the prompt (the chat template does this for image content) and let the processor "
            f"expand it to {tokens_per_image} tokens per image."
        )
    if has_past and not n_images:
        return
    if n_tokens != n_images * tokens_per_image:
        if n_tokens % tokens_per_image == 0 and n_tokens // tokens_per_image > n_images:
            raise ValueError(
                f"The text holds {n_tokens // tokens_per_image} expanded <image> placeholders ({n_tokens} image "
                f"tokens) but only {n_images} image(s) were given: pass one image per <image>."
            )
        raise ValueError(
            f"Image features and image tokens do not match: the text holds {n_tokens} <image> tokens but "
            f"{n_images} image(s) give {n_images * tokens_per_image} features ({tokens_per_image} per image). "
            "Was the text tokenized without the processor's <image> expansion, or truncated through an image?"
        )


class LlavaPhi3ForConditionalGeneration(LlavaForConditionalGeneration):
    r"""
    LLaVA with a native Phi-3 language model. Submodules: ``model.vision_tower`` (CLIP),
    ``model.multi_modal_projector`` (``linear_1`` -> GELU -> ``linear_2``), ``model.language_model``
    (`Phi3Model`) and ``lm_head``.

    Load the public ``xtuner/llava-phi-3-mini-hf`` checkpoint (a stock Llava with a Llama-ified Phi-3) with
    [`addressvlm.models.load_pretrained`], which re-fuses its weights; save and reload our checkpoints with
    ``save_pretrained`` / ``AutoModelForImageTextToText.from_pretrained`` (after ``import addressvlm.models``).
    """

    config_class = LlavaPhi3Config
    config: LlavaPhi3Config

    def forward(
        self,
        input_ids=None,
        pixel_values=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        labels=None,
        **kwargs,
    ):
        # Named explicitly: `generate` derives positions from the padded mask only when `position_ids` is a named
        # parameter, and `Trainer` finds label columns by inspecting this signature.
        has_past = past_key_values is not None and past_key_values.get_seq_length() > 0
        check_image_inputs(input_ids, pixel_values, self.config.image_token_id, self.config.image_seq_length, has_past)
        return super().forward(
            input_ids=input_ids,
            pixel_values=pixel_values,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            labels=labels,
            **kwargs,
        )
