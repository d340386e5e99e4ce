"""The evaluation runner: a model on a built test split -> predictions JSONL, metrics JSON and a Table 2 row.

Usage (Python)::

    from addressvlm.data import load_address_dataset
    from addressvlm.inference import evaluate_model, format_table_header, format_table_row
    from addressvlm.models import load_pretrained

    model, processor = load_pretrained("out/stage2")
    test = load_address_dataset("data/vqa")["test"]
    metrics = evaluate_model(model, processor, test, "eval/stage2", batch_size=16)
    print(format_table_header(), format_table_row(metrics, "AddressVLM"), sep="\\n")

Every question of every row is asked on its own with the row's image (``docs/data_format.md`` §2), answered with
:func:`~addressvlm.inference.answerers.make_answerer` (questions batched; for backbones that support it, each image's
prefix encoded once) and scored by the ``address_accuracy`` metric module, which is the only place answers are matched.

Outputs in ``output_dir``:

* ``predictions.jsonl`` -- one line per question, appended and flushed per batch while running, rewritten in
  dataset order with the metric's per-question ``correct`` / ``valid`` at the end (``docs/data_format.md`` §4);
* ``metrics.json`` -- the metric's output plus the run settings and throughput (atomic write);
* ``eval_settings.json`` -- the settings that change answers; a resumed run must use the same ones.

Rerunning into the same folder resumes: finished questions are kept, a torn last line is dropped, questions whose
image failed to load are retried. Batches are planned over the whole (limited) split, never over what remains, so
a resumed run computes every batch exactly as an uninterrupted one.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from addressvlm.utils.io import atomic_write_json, atomic_write_jsonl, ensure_output_dir
from addressvlm.utils.jsonl import JsonlAppender

from .answerers import make_answerer
from .metric import load_address_accuracy, metric_functions, score_records
from .predictions import question_key, read_predictions


__all__ = ["PROMPT_STYLES", "EvalQuestion", "collect_questions", "evaluate_model"]

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
METRICS_FILE = "metrics.json"
SETTINGS_FILE = "eval_settings.json"
# Stored per record and compared on resume: a finished answer only counts for the same question.
_IDENTITY_FIELDS = ("image", "question", "reference", "level", "type", "options")
PROMPT_STYLES = ("plain", "georeasoner")
"""``plain``: the dataset's questions; ``georeasoner``: naming questions asked with GeoReasoner's JSON prompt and
the answers parsed (`addressvlm.inference.georeasoner`)."""


@dataclass(frozen=True)
class EvalQuestion:
    """One evaluation question, flattened from a dataset row."""

    key: str
    row_id: str
    index: int
    image_index: int
    image: str
    question: str
    reference: str
    level: str
    type: str
    options: tuple[str, ...]

    def record(self, prediction: str, **extra) -> dict[str, Any]:
        """The predictions-JSONL record of this question."""
        return {
            "key": self.key,
            "id": self.row_id,
            "question_index": self.index,
            "image": self.image,
            "question": self.question,
            "prediction": prediction,
            "reference": self.reference,
            "level": self.level,
            "type": self.type,
            "options": list(self.options),
            **extra,
        }


def collect_questions(
    dataset, limit: int | None = None, levels: Sequence[str] | None = None, types: Sequence[str] | None = None
) -> tuple[list[str], list[EvalQuestion]]:
    """Flatten the ``questions`` of the first ``limit`` rows of a VQA split, checking every field.

    Args:
        dataset (`datasets.Dataset`): a split in the ``docs/data_format.md`` §2 schema, image paths absolute.
        limit (`int`, *optional*): only the first ``limit`` rows (images).
        levels (`Sequence[str]`, *optional*): allowed ``level`` values (the metric's, when given).
        types (`Sequence[str]`, *optional*): allowed ``type`` values (the metric's, when given).

    Returns:
        `tuple[list[str], list[EvalQuestion]]`: the image of each row, and the questions in row order.

    Raises:
        `ValueError`: naming the row (number and id), the question index and the field that is wrong.
    """
    for column in ("id", "image", "questions"):
        if column not in dataset.column_names:
            raise ValueError(
                f"The dataset lacks the column {column!r} (has {dataset.column_names}); see "
                "docs/data_format.md §2 -- was it built with `addressvlm data build-vqa`?"
            )
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    images: list[str] = []
    questions: list[EvalQuestion] = []
    for number, row in enumerate(dataset.select_columns(["id", "image", "questions"])):
        where = f"row {number} (id {row['id']!r})"
        if not isinstance(row["image"], str) or not row["image"]:
            raise ValueError(f"{where}: 'image' must be a non-empty path, got {row['image']!r}")
        if not row["questions"]:
            raise ValueError(f"{where}: 'questions' is empty; a test row carries every question of its image")
        images.append(row["image"])
        for index, entry in enumerate(row["questions"]):
            texts = {field: entry.get(field) for field in ("question", "reference", "level", "type")}
            for field, value in texts.items():
                if not isinstance(value, str) or not value:
                    raise ValueError(
                        f"{where}, questions[{index}]: field {field!r} must be a non-empty string, got {value!r}"
                    )
            if levels is not None and texts["level"] not in levels:
                raise ValueError(f"{where}, questions[{index}]: unknown level {texts['level']!r} (one of {levels})")
            if types is not None and texts["type"] not in types:
                raise ValueError(f"{where}, questions[{index}]: unknown type {texts['type']!r} (one of {types})")
            key, options = question_key(row["id"], index), tuple(entry.get("options") or ())
            questions.append(EvalQuestion(key, row["id"], index, number, row["image"], **texts, options=options))
    return images, questions


def _check_references(functions, questions: Sequence[EvalQuestion]) -> None:
    """Score empty answers once before generating: a reference the metric cannot use fails now, not after the run.

    Raises:
        `ValueError`: the metric's message, with the row id and question index.
    """
    compute = getattr(functions, "compute_address_accuracy", None)
    if compute is None:
        return
    try:
        compute(
            [""] * len(questions),
            [q.reference for q in questions],
            [q.level for q in questions],
            [q.type for q in questions],
            [list(q.options) for q in questions],
        )
    except ValueError as err:
        found = re.search(r"at index (\d+)", str(err))
        if found is None or int(found.group(1)) >= len(questions):
            raise
        question = questions[int(found.group(1))]
        raise ValueError(f"row id {question.row_id!r}, questions[{question.index}]: {err}") from None


def _check_settings(path: Path, settings: dict, resuming: bool) -> None:
    """Refuse to resume into a folder written with settings that change answers."""
    import json

    if not resuming or not path.exists():
        atomic_write_json(path, settings)
        return
    previous = json.loads(path.read_text(encoding="utf-8"))
    diffs = {k: (previous.get(k), v) for k, v in settings.items() if previous.get(k) != v}
    if diffs:
        described = "; ".join(f"{k}: {old!r} before, {new!r} now" for k, (old, new) in diffs.items())
        raise ValueError(
            f"{path.parent} holds an evaluation made with other settings ({described}). Use another output folder "
            "or overwrite=True (CLI: --overwrite) to start again."
        )


def _check_resumed(done: Mapping[str, dict], questions: Sequence[EvalQuestion], folder: Path) -> None:
    by_key = {q.key: q for q in questions}
    for key, record in done.items():
        question = by_key.get(key)
        if question is None:
            continue  # e.g. from a run with a larger limit: kept in the file, not scored
        expected = question.record("")
        for field in _IDENTITY_FIELDS:
            if record.get(field) != expected[field]:
                raise ValueError(
                    f"{folder / PREDICTIONS_FILE}: the saved answer to {key} was made for {field}="
                    f"{record.get(field)!r}, but the dataset now has {expected[field]!r}. Use another output folder "
                    "or overwrite=True (CLI: --overwrite)."
                )


def evaluate_model(
    model,
    processor,
    dataset,
    output_dir: str | os.PathLike,
    *,
    batch_size: int = 16,
    max_new_tokens: int = 32,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int = 0,
    limit: int | None = None,
    model_name: str | None = None,
    run_info: Mapping[str, Any] | None = None,
    metric_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    prompt_style: str = "plain",
) -> dict[str, Any]:
    """Answer every question of a VQA split, save the predictions and return the scores (resumable).

    Args:
        model (`PreTrainedModel` or `peft.PeftModel`): the model, on its device, in eval mode.
        processor (`BackboneProcessor`): its processor.
        dataset (`datasets.Dataset`): the split (``docs/data_format.md`` §2), image paths absolute, e.g.
            ``load_address_dataset(path)["test"]``.
        output_dir (`str` or `os.PathLike`): where the predictions, metrics and settings go.
        batch_size (`int`, *optional*, defaults to 16): questions per `generate` call. Answers of a VLM can change
            slightly with it; it is recorded next to the scores.
        max_new_tokens (`int`, *optional*, defaults to 32): answer length limit.
        temperature (`float`, *optional*): sampling temperature; `None` or 0 is greedy decoding (default). The
            paper's normal inference uses 0.1.
        top_p (`float`, *optional*): nucleus sampling, with a temperature.
        seed (`int`, *optional*, defaults to 0): with sampling, batch ``n`` is seeded with ``seed + n``.
        limit (`int`, *optional*): evaluate only the first ``limit`` images (rows).
        model_name (`str`, *optional*): recorded and checked on resume; defaults to the model's ``name_or_path``.
        run_info (`Mapping`, *optional*): more settings to record (adapter, dtype, device, dataset path, split...);
            they are checked on resume too.
        metric_path (`str` or `os.PathLike`, *optional*): the ``address_accuracy`` folder (see
            `load_address_accuracy`).
        overwrite (`bool`, *optional*, defaults to `False`): discard earlier outputs in ``output_dir``.
        show_progress (`bool`, *optional*, defaults to `True`): a tqdm bar with questions/s.
        prompt_style (`str`, *optional*, defaults to ``"plain"``): ``"georeasoner"`` asks every naming question
            (generation, street_district) with GeoReasoner's JSON prompt and scores the parsed district / street;
            each such record keeps the answer as ``raw_prediction`` and the parse as ``parse`` (``valid``,
            ``partial``, ``refusal``, ``invalid``), counted in ``metrics["eval"]["parse_counts"]``.

    Returns:
        `dict`: the ``address_accuracy`` scores at the top level (``A_d_G`` ... ``A_sd`` in %, ``n_*`` counts,
        ``recall``, ``f1`` ...) plus ``"eval"`` (settings, question / image / failure counts) and ``"timing"``
        (``questions_per_second`` of this session). The same dict is saved as ``metrics.json``.
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {prompt_style!r}; expected one of {PROMPT_STYLES}")
    folder = ensure_output_dir(output_dir)
    predictions_path = folder / PREDICTIONS_FILE
    if overwrite:
        for name in (PREDICTIONS_FILE, METRICS_FILE, SETTINGS_FILE):
            (folder / name).unlink(missing_ok=True)

    metric = load_address_accuracy(metric_path)  # before generating: fail early when it is missing
    functions = metric_functions(metric)
    images, questions = collect_questions(
        dataset, limit, getattr(functions, "LEVELS", None), getattr(functions, "QUESTION_TYPES", None)
    )
    if not questions:
        raise ValueError("The dataset has no rows to evaluate")
    _check_references(functions, questions)
    parse, json_keys = None, frozenset()
    if prompt_style == "georeasoner":
        from addressvlm.data.georeasoner import REASONING_QUESTION, is_location_question

        from .georeasoner import parse_georeasoner_answer

        parse = functools.partial(parse_georeasoner_answer, is_refusal=functions.is_refusal)
        questions = [
            replace(q, question=REASONING_QUESTION) if is_location_question({"type": q.type, "level": q.level}) else q
            for q in questions
        ]
        json_keys = frozenset(q.key for q in questions if q.question == REASONING_QUESTION)
    sampling = bool(temperature)
    settings = {
        "model": model_name or getattr(getattr(model, "config", None), "name_or_path", None) or type(model).__name__,
        "decoding": "sampling" if sampling else "greedy",
        "temperature": temperature if sampling else None,
        "top_p": top_p if sampling else None,
        "seed": seed if sampling else None,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        **({"prompt_style": prompt_style} if prompt_style != "plain" else {}),
        **dict(run_info or {}),
    }
    done, torn = read_predictions(predictions_path, repair=False)
    _check_settings(folder / SETTINGS_FILE, settings, resuming=bool(done))
    _check_resumed(done, questions, folder)
    finished = {key for key, record in done.items() if "error" not in record}
    n_resumed = sum(q.key in finished for q in questions)
    if n_resumed:
        logger.info("Resuming %s: %d of %d questions already answered", folder, n_resumed, len(questions))

    answerer = make_answerer(model, processor, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    answered = failed = 0
    start = time.perf_counter()
    bar = tqdm(
        total=len(questions), initial=n_resumed, unit="q", desc="eval", disable=not show_progress, dynamic_ncols=True
    )
    with JsonlAppender(predictions_path) as writer:  # cuts a torn last line before appending
        batches = answerer.iter_batches(
            images,
            [q.image_index for q in questions],
            [q.question for q in questions],
            batch_size=batch_size,
            skip=lambda positions: all(questions[i].key in finished for i in positions),
            seed=seed,
        )
        for batch in batches:
            records = []
            for position, answer in zip(range(batch.start, batch.stop), batch.answers):
                question = questions[position]
                if question.key in finished:
                    continue  # answered before the interruption; keep the saved answer
                if answer is None:
                    record = question.record("", error=batch.errors[position])
                    failed += 1
                elif question.key in json_keys:
                    parsed = parse(answer)
                    record = question.record(parsed.prediction(question.level), raw_prediction=answer)
                    record["parse"] = parsed.status
                    answered += 1
                else:
                    record = question.record(answer)
                    answered += 1
                records.append(record)
                done[question.key] = record
            writer.append(records)
            bar.update(len(records))
            bar.set_postfix(failed=failed, refresh=False)
    bar.close()
    seconds = time.perf_counter() - start

    ordered = [done[q.key] for q in questions]
    scores, scored = score_records(metric, questions, ordered)
    # Dataset order, with the metric's verdicts; answers beyond the current --limit (an earlier, larger run) stay.
    current = {q.key for q in questions}
    atomic_write_jsonl(predictions_path, [*scored, *(r for k, r in done.items() if k not in current)])
    failed_records = [r for r in ordered if "error" in r]
    result = {
        **scores,
        "eval": {
            **settings,
            "n_images": len(images),
            "n_questions": len(questions),
            "n_failed": len(failed_records),
            "failed_images": sorted({r["image"] for r in failed_records})[:20],
            "shared_prefix_tokens": answerer.prefix_length,
            **({"parse_counts": _parse_counts(ordered)} if parse is not None else {}),
        },
        "timing": {
            "questions_answered": answered + failed,
            "questions_resumed": n_resumed,
            "torn_bytes_dropped": torn,
            "seconds": round(seconds, 3),
            "questions_per_second": round((answered + failed) / seconds, 3) if answered + failed else None,
        },
        "versions": _versions(),
    }
    atomic_write_json(folder / METRICS_FILE, result)
    if failed_records:
        logger.warning(
            "%d of %d questions could not be answered (unreadable images, e.g. %s); they count as "
            "invalid answers and are retried by the next run",
            len(failed_records),
            len(questions),
            failed_records[0]["image"],
        )
    return result


def _parse_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How the GeoReasoner answers parsed: ``valid`` / ``partial`` / ``refusal`` / ``invalid`` counts."""
    from .georeasoner import PARSE_STATUSES

    found = Counter(record["parse"] for record in records if "parse" in record)
    return {status: found[status] for status in PARSE_STATUSES}


def _versions() -> dict[str, str]:
    import torch
    import transformers

    from addressvlm import __version__

    return {"addressvlm": __version__, "torch": torch.__version__, "transformers": transformers.__version__}
