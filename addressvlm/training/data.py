"""Training data for a stage: address datasets (one or more cities), optional general VQA, and a length column.

Rows keep image *paths*; the collator decodes them per batch. The ``length`` column (tokens per example, image
tokens included) drives the Trainer's ``group_by_length`` sampler; it is computed from the rendered chat text without
decoding any image (a sliced backbone, whose image-token count depends on the image size, reads image headers).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addressvlm.data.storage import check_images_exist


__all__ = [
    "TrainingData",
    "add_length_column",
    "check_training_datasets",
    "conversation_lengths",
    "eval_subset",
    "load_training_data",
    "split_conversation_turns",
]

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """The datasets of a stage and what went into them.

    Args:
        train (`datasets.Dataset`): training rows (``image``, ``conversations``, ``length``).
        eval (`datasets.Dataset`, *optional*): evaluation rows, or `None`.
        sources (`list[dict]`): ``{"name", "split", "rows"}`` per source, for the logs and the model card.
        image_root (`str`, *optional*): folder of relative image paths (general VQA), for the collator.
        isolate_turns (`bool`, *optional*, defaults to `False`): the collator trains each turn as if asked alone.
    """

    train: Any
    eval: Any = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    image_root: str | None = None
    isolate_turns: bool = False


def conversation_lengths(
    processor,
    rows: Iterable[tuple[Sequence[Mapping[str, str]], Any]],
    batch_size: int = 512,
    isolate_turns: bool = False,
    image_root: str | None = None,
) -> tuple[list[int], int]:
    """Token length of each example as the collator will build it (image tokens included, truncation applied),
    without decoding images.

    Args:
        processor (`BackboneProcessor`): the training processor (its chat template, ``image_token`` and
            ``image_token_count``).
        rows (`Iterable[tuple]`): ``(conversation, image)`` per row: the turns, and the row's image path (or any
            true value; empty / `None` for a text-only row). A processor whose image-token count depends on the
            image size (``image_count_needs_size``) reads the size from the file's header.
        batch_size (`int`, *optional*, defaults to 512): rows per tokenizer call.
        isolate_turns (`bool`, *optional*, defaults to `False`): lengths of turn-isolated rows (the shared prefix
            once plus each turn's single-turn continuation), as the collator's ``isolate_turns`` builds them.
        image_root (`str`, *optional*): folder of relative image paths.

    Returns:
        `tuple(list[int], int)`: the lengths, and how many rows exceed ``processor.max_text_length`` text tokens.
    """
    import os

    from addressvlm.models.conversation import conversation_pairs, single_turn, to_messages
    from addressvlm.utils.images import image_size

    tokenizer = processor.tokenizer
    placeholder = tokenizer(processor.image_token, add_special_tokens=False)["input_ids"]
    if len(placeholder) != 1:
        raise ValueError(f"The image placeholder {processor.image_token!r} is not one token: {placeholder}")
    image_id = placeholder[0]
    limit = getattr(processor, "max_text_length", None)
    needs_size = bool(getattr(processor, "image_count_needs_size", False))
    fixed = None if needs_size else processor.image_token_count(None)
    sizes: dict[str, tuple[int, int]] = {}
    lengths: list[int] = []
    truncated = 0
    texts: list[str] = []
    images: list[int] = []
    turns: list[int] = []

    def per_image(image) -> int:
        if fixed is not None:
            return fixed
        path = image if (image_root is None or os.path.isabs(str(image))) else os.path.join(image_root, image)
        if path not in sizes:
            sizes[path] = image_size(path)
        return processor.image_token_count(sizes[path])

    def length_of(ids, image_tokens) -> int:
        nonlocal truncated
        n_images = sum(token == image_id for token in ids) if image_tokens else 0
        n_text = len(ids) - n_images
        if limit is not None and n_text > limit:
            truncated += 1
            n_text = limit
        return n_text + n_images * image_tokens

    def flush() -> None:
        encoded = iter(tokenizer(texts, add_special_tokens=False)["input_ids"])
        for image_tokens, n_turns in zip(images, turns):
            if not n_turns:
                lengths.append(length_of(next(encoded), image_tokens))
                continue
            singles = [next(encoded) for _ in range(n_turns)]
            shared = min(len(ids) for ids in singles) - 1
            for ids in singles[1:]:
                shared = next((i for i in range(shared) if ids[i] != singles[0][i]), shared)
            prefix = length_of(singles[0][:shared], image_tokens)
            lengths.append(prefix + sum(length_of(ids, image_tokens) - prefix for ids in singles))
        texts.clear()
        images.clear()
        turns.clear()

    def render(conversation, with_image: bool) -> str:
        return processor.apply_chat_template(to_messages(conversation, with_image), tokenize=False)

    for conversation, image in rows:
        with_image = bool(image)
        if isolate_turns:
            pairs = conversation_pairs(conversation)
            texts.extend(render(single_turn(question, answer), with_image) for question, answer in pairs)
            turns.append(len(pairs))
        else:
            texts.append(render(conversation, with_image))
            turns.append(0)
        images.append(per_image(image) if with_image else 0)
        if len(images) >= batch_size:
            flush()
    if images:
        flush()
    return lengths, truncated


def add_length_column(
    dataset,
    processor,
    conversations_column: str,
    image_column: str,
    name: str = "length",
    isolate_turns=False,
    image_root: str | None = None,
):
    """Add (or replace) the ``length`` column (`conversation_lengths`); log how many rows will be truncated."""
    if name in dataset.column_names:
        dataset = dataset.remove_columns([name])
    rows = (
        pair
        for batch in dataset.select_columns([conversations_column, image_column]).iter(batch_size=1000)
        for pair in zip(batch[conversations_column], batch[image_column])
    )
    lengths, truncated = conversation_lengths(processor, rows, isolate_turns=isolate_turns, image_root=image_root)
    if truncated:
        logger.warning(
            "%d of %d rows exceed max_text_length=%d text tokens and will be truncated",
            truncated,
            len(lengths),
            processor.max_text_length,
        )
    if lengths:
        logger.info(
            "Example lengths: min %d, mean %.1f, max %d tokens",
            min(lengths),
            sum(lengths) / len(lengths),
            max(lengths),
        )
    return dataset.add_column(name, lengths)


@contextlib.contextmanager
def _no_cache_files():
    """Let `datasets` write intermediate tables to temporary files instead of cache files beside the data."""
    import datasets

    was_enabled = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_caching()


def _address_split(paths: Sequence[str], split: str, columns: list[str], sources: list[dict], optional=()):
    from datasets import concatenate_datasets

    from addressvlm.data import load_address_dataset
    from addressvlm.data.storage import check_split_rows, missing_split_message

    parts = []
    for path in paths:
        splits = load_address_dataset(path)
        if split not in splits:
            raise KeyError(missing_split_message(path, split, splits))
        dataset = splits[split]
        check_split_rows(dataset, path, split)
        missing = [column for column in columns if column not in dataset.column_names]
        if missing:
            raise KeyError(f"{path} split {split!r} lacks column(s) {missing}")
        extra = [c for c in optional if c in dataset.column_names]
        parts.append(dataset.select_columns(columns + extra))
        sources.append({"name": Path(path).name, "split": split, "rows": len(dataset)})
        logger.info("Loaded %s[%s]: %d rows", path, split, len(dataset))
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def split_conversation_turns(dataset, conversations_column: str = "conversations", questions_column="questions"):
    """One row per (question, answer) pair: each human turn with its answer becomes its own conversation.

    Each row keeps its image (the processor puts it before the question); a legacy ``<image>`` placeholder is
    dropped from the text. A ``questions`` column (VQA sets) is split alongside, one entry per row. Rows whose
    conversation is not a strict human/gpt alternation raise a `ValueError` naming the row.
    """
    from addressvlm.models.conversation import conversation_pairs, single_turn

    has_questions = questions_column in dataset.column_names

    def explode(batch):
        out = {name: [] for name in batch}
        for i, turns in enumerate(batch[conversations_column]):
            try:
                pairs = conversation_pairs(turns)
            except ValueError:
                raise ValueError(f"row {batch.get('id', ['?'] * (i + 1))[i]}: turns are not human/gpt pairs") from None
            for k, (question, answer) in enumerate(pairs):
                for name in batch:
                    out[name].append(batch[name][i])
                out[conversations_column][-1] = single_turn(question, answer)
                if has_questions:
                    out[questions_column][-1] = [batch[questions_column][i][k]]
        return out

    with _no_cache_files():
        return dataset.map(explode, batched=True, desc="splitting turns")


def load_training_data(
    data_args, processor, seed: int = 0, length_column: str = "length", sampling_strategy: str | None = None
) -> TrainingData:
    """Load, mix and annotate the datasets named by ``data_args``.

    Args:
        data_args (`DataArguments`): dataset folders, splits, columns, general-VQA mixing, sample caps.
        processor (`BackboneProcessor`): used for the length column.
        seed (`int`, *optional*, defaults to 0): seed of the general-VQA draw and of the capped subsets.
        length_column (`str`, *optional*, defaults to `"length"`): the Trainer's ``length_column_name``.
        sampling_strategy (`str`, *optional*): the Trainer's ``train_sampling_strategy``; only used to warn when
            ``group_by_length`` would batch single-question rows by question type (see ``split_turns``).
    """
    if not data_args.dataset_paths:
        raise ValueError("dataset_paths is empty: name at least one dataset folder (addressvlm data build-...)")
    columns = [data_args.image_column, data_args.conversations_column]
    sources: list[dict[str, Any]] = []
    optional = ["questions"] if data_args.question_types else []
    train = _address_split(data_args.dataset_paths, data_args.train_split, columns, sources, optional)
    check_images_exist(train, data_args.image_column, f"{', '.join(data_args.dataset_paths)}[{data_args.train_split}]")
    if data_args.split_turns:
        before = len(train)
        train = split_conversation_turns(train, data_args.conversations_column)
        logger.info("split_turns: %d conversations -> %d single-turn rows", before, len(train))
        if sampling_strategy == "group_by_length":
            logger.warning(
                "split_turns with train_sampling_strategy=group_by_length: a single-question row's length is set by "
                "its question type (generation < judgement < multiple choice), so length-grouped batches each hold "
                "one type. Measured on the offline city: judgement then stays at chance; "
                "train_sampling_strategy: random mixes the types (docs/quickstart.md)."
            )
    if data_args.question_types:
        if "questions" not in train.column_names:
            raise KeyError("question_types needs a VQA set with a `questions` column (addressvlm data build-vqa)")
        keep = set(data_args.question_types)
        with _no_cache_files():
            train = train.filter(lambda row: row["questions"][0]["type"] in keep, desc="question types")
        logger.info("question_types %s: %d rows kept", sorted(keep), len(train))
    if "questions" in train.column_names:
        train = train.remove_columns("questions")
    image_root = None
    if data_args.general_vqa_ratio > 0:
        from addressvlm.data import mix_general_vqa

        image_root = str(Path(data_args.general_vqa_image_root or Path(data_args.general_vqa_json).parent).resolve())
        with _no_cache_files():  # the mix re-writes the table: keep it out of the (shared, read-only) dataset folder
            train, mix = mix_general_vqa(
                train, data_args.general_vqa_json, data_args.general_vqa_ratio, image_root, image_root, seed=seed
            )
        sources.append({"name": Path(data_args.general_vqa_json).name, "split": "general VQA", "rows": mix.added})
        logger.info("Mixed in %d general VQA rows (asked %d, file holds %d)", mix.added, mix.requested, mix.available)
    if data_args.max_train_samples is not None:
        train = train.shuffle(seed=seed, keep_in_memory=True).select(
            range(min(data_args.max_train_samples, len(train)))
        )
    train = add_length_column(
        train, processor, data_args.conversations_column, data_args.image_column, length_column,
        isolate_turns=data_args.isolate_turns, image_root=image_root,
    )  # fmt: skip
    eval_dataset = None
    if data_args.eval_split:
        eval_dataset = _address_split(data_args.dataset_paths, data_args.eval_split, columns, [])
        if data_args.max_eval_samples is not None and data_args.max_eval_samples < len(eval_dataset):
            eval_dataset = eval_dataset.select(eval_subset(len(eval_dataset), data_args.max_eval_samples, seed))
            logger.info("Evaluation subset: %d rows drawn with seed %d", len(eval_dataset), seed)
        eval_dataset = add_length_column(
            eval_dataset, processor, data_args.conversations_column, data_args.image_column, length_column,
            isolate_turns=data_args.isolate_turns,
        )  # fmt: skip
    logger.info("Training rows: %d%s", len(train), f"; evaluation rows: {len(eval_dataset)}" if eval_dataset else "")
    return TrainingData(train, eval_dataset, sources, image_root, isolate_turns=data_args.isolate_turns)


def eval_subset(n_rows: int, size: int, seed: int) -> list[int]:
    """Indices of a seeded random subset of ``size`` rows, in table order.

    Tables keep all views of a location together, so the first rows would cover a handful of locations; a random
    subset spreads over the whole split.
    """
    import numpy as np

    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False)).tolist()


def check_training_datasets(data_args, kinds: Sequence[str], purpose: str) -> None:
    """Refuse dataset folders of the wrong kind for a stage, before the model loads (e.g. a stage-1 set for stage 2).

    Args:
        data_args (`DataArguments`): the dataset folders.
        kinds (`Sequence[str]`): accepted kinds (see `addressvlm.data.storage.DATASET_KINDS`).
        purpose (`str`): e.g. ``"stage-2 training"``, for the message.
    """
    from addressvlm.data.storage import check_dataset_kind

    if not data_args.dataset_paths:
        raise ValueError("dataset_paths is empty: name at least one dataset folder (addressvlm data build-...)")
    for path in data_args.dataset_paths:
        check_dataset_kind(path, kinds, purpose)
