"""Batched, left-padded generation of answers to questions about images."""

from __future__ import annotations

from collections.abc import Sequence

import torch


__all__ = ["decoding_kwargs", "generate_answers", "generate_batch", "prepare_generation_inputs"]


def prepare_generation_inputs(processor, images: Sequence, questions: Sequence[str], device=None):
    """Tokenize prompts (chat template + the processor's image expansion) with LEFT padding, as generation needs.

    Args:
        processor (`BackboneProcessor`): the model's processor.
        images (`Sequence[PIL.Image.Image | str]`): one image (or path) per question, or `None` entries for text-only.
        questions (`Sequence[str]`): user texts without an image placeholder.
        device (`torch.device`, *optional*): where to put the tensors.
    """
    if len(images) != len(questions):
        raise ValueError(f"Got {len(images)} images for {len(questions)} questions")
    prompts = [processor.build_prompt(q, with_image=image is not None) for q, image in zip(questions, images)]
    present = [image for image in images if image is not None]
    inputs = processor(
        images=present or None,
        text=prompts,
        padding=True,
        padding_side="left",
        add_special_tokens=False,
        return_tensors="pt",
    )
    return inputs.to(device) if device is not None else inputs


def decoding_kwargs(
    processor,
    max_new_tokens: int = 64,
    do_sample: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
) -> dict:
    """Keyword arguments of `model.generate` for answering: stop at the processor's stop tokens, pad with the
    tokenizer's pad id.

    Args:
        processor (`BackboneProcessor`): gives ``stop_token_ids`` and the pad id.
        max_new_tokens (`int`, *optional*, defaults to 64): answer length limit.
        do_sample (`bool`, *optional*, defaults to `False`): greedy when `False` (sampling knobs are cleared, so the
            checkpoint's ``generation_config`` cannot turn sampling back on).
        temperature (`float`, *optional*): sampling temperature.
        top_p (`float`, *optional*): nucleus sampling. Sampling uses only ``temperature`` and ``top_p``: a
            ``top_k`` from the checkpoint's generation config is cleared.
    """
    return dict(
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        eos_token_id=processor.stop_token_ids,
        pad_token_id=processor.tokenizer.pad_token_id,
        temperature=temperature if do_sample else None,
        top_p=top_p if do_sample else None,
        top_k=None,
    )


@torch.inference_mode()
def generate_answers(
    model,
    processor,
    images: Sequence,
    questions: Sequence[str],
    *,
    max_new_tokens: int = 64,
    do_sample: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    batch_size: int = 8,
    seed: int | None = None,
) -> list[str]:
    """Answer ``questions[i]`` about ``images[i]`` with batched generation; returns the decoded answers.

    Every row carries its own image (left-padded batches). `evaluate_model` and the probe use
    `addressvlm.inference.answerers.make_answerer` instead (plan, resume, per-image errors; for backbones that
    support it, each image's prefix encoded once), which gives the same greedy answers.

    Args:
        model (`PreTrainedModel` or `PeftModel`): a vision-language model.
        processor (`BackboneProcessor`): its processor (applies the chat template and expands the image).
        images (`Sequence`): PIL images or paths, one per question.
        questions (`Sequence[str]`): the questions, without an image placeholder.
        max_new_tokens (`int`, *optional*, defaults to 64): answer length limit.
        do_sample (`bool`, *optional*, defaults to `False`): greedy when `False`.
        temperature (`float`, *optional*): sampling temperature (``do_sample=True``).
        top_p (`float`, *optional*): nucleus sampling.
        batch_size (`int`, *optional*, defaults to 8): questions per `generate` call.
        seed (`int`, *optional*): seeds torch before each batch, for reproducible sampling.
    """
    kwargs = decoding_kwargs(processor, max_new_tokens, do_sample, temperature, top_p)
    answers: list[str] = []
    for start in range(0, len(questions), batch_size):
        if seed is not None:
            torch.manual_seed(seed + start)
        end = start + batch_size
        answers.extend(generate_batch(model, processor, images[start:end], questions[start:end], kwargs))
    return answers


def generate_batch(model, processor, images: Sequence, questions: Sequence[str], kwargs: dict) -> list[str]:
    """One left-padded `generate` call on ``questions[i]`` about ``images[i]`` (``kwargs``: `decoding_kwargs`);
    returns the stripped answers."""
    inputs = prepare_generation_inputs(processor, list(images), list(questions), next(model.parameters()).device)
    inputs = {
        key: value.to(model.dtype) if isinstance(value, torch.Tensor) and value.is_floating_point() else value
        for key, value in inputs.items()
    }
    output = model.generate(**inputs, **kwargs)
    texts = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return [text.strip() for text in texts]
