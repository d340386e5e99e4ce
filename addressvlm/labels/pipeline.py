"""Label a saved dataset end to end: read it, run the labeller, write the completed stage-1 dataset.

``label_dataset("alignment", ...)`` completes a stage-1 (cross-view alignment) set in place of its empty
``reason`` / ``label_source`` / ``conversations`` fields; ``label_dataset("georeasoner", ...)`` turns the training
images of a VQA set into a GeoReasoner stage-1 set (street-view images only, district-level reasoning). Both write
the ``docs/data_format.md`` §3 schema with ``build_info.json`` (its ``labels`` section records the backend, the
templates, the settings and the counts) and ``label_report.json``.

The two tasks, as data (`LabelTask`: what is asked, what must be named):

- ``alignment`` (AddressVLM stage 1): grafted image, hint = street + district, the label must name both and must
  not give another street of the city as the answer; answer ``"{street}, {district}"``.
- ``georeasoner`` (GeoReasoner stage 1, appendix C): street-view image only, hint = district, the label must name
  the district and must not give another district as the answer; answer ``"{district}"``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from addressvlm.data.alignment import ALIGNMENT_COLUMNS
from addressvlm.labels.backends.base import LabelBackend
from addressvlm.labels.cache import LabelCache
from addressvlm.labels.options import GenerationSettings, LabelRunOptions
from addressvlm.labels.runner import LabelItem, LabelOutcome, LabelReport, LabelRunner
from addressvlm.labels.templates import TaskTemplates, load_task_templates
from addressvlm.labels.validation import LabelValidator
from addressvlm.utils.io import atomic_write_json, check_not_an_input, check_output_folder


__all__ = ["ALIGNMENT", "GEOREASONER", "REPORT_FILE", "TASKS", "LabelTask", "default_cache_path", "label_dataset"]

logger = logging.getLogger(__name__)
REPORT_FILE = "label_report.json"
DEFAULT_CITY = "the city"
_REQUIRED_COLUMNS = ("id", "image", "street", "district")
_NAME_COLUMNS = ("street", "district", "city")
_STAGE1_COLUMNS = tuple(c for c in ALIGNMENT_COLUMNS if c not in ("city", "source"))
"""Columns of a labelled stage-1 split."""


@dataclass(frozen=True)
class LabelTask:
    """A labelling task.

    Args:
        name (`str`): ``alignment`` or ``georeasoner`` (selects the default template files).
        answer_kind (`str`): the name kind that is the answer (``street`` or ``district``).
        required_kinds (`tuple[str, ...]`): kinds whose reference name a label must contain.
        input_kind (`str`): the kind of dataset it labels (`addressvlm.data.storage.dataset_kind`).
    """

    name: str
    answer_kind: str
    required_kinds: tuple[str, ...]
    input_kind: str

    def fields(self, row: Mapping[str, Any], city: str) -> dict[str, str]:
        """Placeholder values of a row for the templates; ``answer`` is the row's reference answer (its own
        ``answer`` field for alignment rows that have one)."""
        street, district = str(row["street"]), str(row["district"])
        answer = district if self.answer_kind == "district" else str(row.get("answer") or f"{street}, {district}")
        return {"street": street, "district": district, "answer": answer, "city": city}

    def reference(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Reference names for the validator."""
        return {kind: str(row[kind]) for kind in {*self.required_kinds, self.answer_kind}}

    def item(self, row: Mapping[str, Any], image: str, templates: TaskTemplates, city: str) -> LabelItem:
        """Build the labelling item of a row.

        Args:
            row (`Mapping`): the dataset row (needs ``id``, ``street``, ``district``).
            image (`str`): absolute path of the image to show the labelling model.
            templates ([`TaskTemplates`]): the task's templates.
            city (`str`): the row's city name for ``{city}``.
        """
        fields = self.fields(row, city)
        return LabelItem(
            id=str(row["id"]),
            image=image,
            prompt=templates.prompt.render(**fields),
            reference=self.reference(row),
            fallback=templates.fallback.render(**fields),
            city=city,
        )


ALIGNMENT = LabelTask("alignment", answer_kind="street", required_kinds=("street", "district"), input_kind="alignment")
GEOREASONER = LabelTask("georeasoner", answer_kind="district", required_kinds=("district",), input_kind="vqa")
TASKS = {task.name: task for task in (ALIGNMENT, GEOREASONER)}


def default_cache_path(output_dir: str | os.PathLike) -> Path:
    """`Path`: the cache used when none is given, ``<output_dir>.labels.jsonl`` beside the output folder."""
    output = Path(output_dir)
    return output.with_name(output.name + ".labels.jsonl")


@contextlib.contextmanager
def _datasets_progress(enabled: bool) -> Iterator[None]:
    """Hide the `datasets` progress bars inside the block unless `enabled`."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    if not enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled and not enabled:
            datasets.enable_progress_bars()


def _select_rows(raw, resolved, splits: Sequence[str], limit: int | None, path: Path, task: LabelTask):
    """Pick the rows to write, per split, as ``(row, absolute image path or None)``.

    `None` marks a row written unchanged without labelling (general VQA rows of an alignment set). `limit` counts
    labelled rows over the splits in order. Returns the selection and the counts of rows left out or passed
    through, by reason.
    """
    selected: dict[str, list[tuple[dict, str | None]]] = {}
    skipped: Counter[str] = Counter()
    left = limit
    for split in splits:
        dataset = raw[split]
        missing = [c for c in _REQUIRED_COLUMNS if c not in dataset.column_names]
        if missing:
            raise ValueError(f"{path} split {split!r}: missing field(s) {missing}; found {dataset.column_names}")
        chosen: list[tuple[dict, str | None]] = []
        labelled, seen = 0, set()
        for position, (row, image) in enumerate(zip(dataset, resolved[split]["image"])):
            if left is not None and labelled >= left:
                break
            if "general" in (row.get("label_source"), row.get("source")):  # general VQA (Table 6): no address
                skipped["general_vqa_rows"] += 1
                if task.name == "alignment":
                    chosen.append((row, None))
                continue
            if task.name == "georeasoner" and image in seen:
                skipped["duplicate_images"] += 1
                continue
            seen.add(image)
            for column in _REQUIRED_COLUMNS:
                if not str(row.get(column) or "").strip():
                    raise ValueError(f"{path} split {split!r} row {position} (id={row.get('id')!r}): empty {column!r}")
            chosen.append((row, image))
            labelled += 1
        if labelled:  # a split emptied by the limit is left out of the output
            selected[split] = chosen
        if left is not None:
            left -= labelled
    return selected, dict(sorted(skipped.items()))


def _output_row(task: LabelTask, row: dict, outcome: LabelOutcome, templates: TaskTemplates, city: str) -> dict:
    """A labelled row: the input row (alignment) or a new stage-1 row (georeasoner) with ``question``, ``answer``,
    ``reason``, ``label_source`` and ``conversations`` (``[human: question, gpt: target]``, backbone-neutral: no
    image placeholder).

    The question is always the question template, never the row's own: the labelled target holds a reason, so the
    training question must ask for one (the labelling prompt without the hint, AddressVLM §2.2, Fig. 3(b);
    ``prompts/alignment_question.txt``), not the builder's answer-only question.
    """
    question = templates.question.render(city=city)
    fields = task.fields(row, city)
    target = templates.target.render(**fields, reason=outcome.reason)
    labelled = {
        "question": question,
        "answer": fields["answer"],
        "reason": outcome.reason,
        "label_source": outcome.label_source,
        "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": target}],
    }
    if task.name == "alignment":
        return {**row, **labelled}
    out = {
        "id": str(row["id"]),
        "image": row["image"],
        "street_view": row["image"],
        "satellite": "",
        "location_id": str(row.get("location_id") or ""),
        "street": str(row["street"]),
        "district": str(row["district"]),
        **labelled,
    }
    if "city" in row:
        out["city"] = str(row.get("city") or "")
    return out


def _features(task: LabelTask, source_features, city_column: bool):
    from datasets import Features, Value

    text = Value("string")
    if task.name == "alignment":
        features = Features(dict(source_features))
    else:
        features = Features({c: text for c in _STAGE1_COLUMNS})
        if city_column:
            features["city"] = text
    features.update({c: text for c in ("question", "answer", "reason", "label_source")})
    features["conversations"] = [{"from": text, "value": text}]  # a list of structs
    return features


def label_dataset(
    task: str | LabelTask,
    dataset_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    backend: LabelBackend | None,
    options: LabelRunOptions | None = None,
    *,
    templates: TaskTemplates | None = None,
    settings: GenerationSettings | None = None,
    progress: bool = True,
    **overrides: Any,
) -> LabelReport:
    """Label a saved dataset and write the completed stage-1 dataset.

    Args:
        task (`str` or [`LabelTask`]):
            ``alignment`` (input: a stage-1 set) or ``georeasoner`` (input: a VQA set).
        dataset_path (`str` or `os.PathLike`):
            The input dataset folder (``DatasetDict`` + ``build_info.json``).
        output_dir (`str` or `os.PathLike`):
            Where the completed dataset goes (written atomically; must differ from `dataset_path`).
        backend ([`LabelBackend`], *optional*):
            The labelling model; `None` writes templated reasons only.
        templates ([`TaskTemplates`], *optional*):
            Prompt, question, fallback and target templates; defaults to the task's packaged files.
        settings ([`GenerationSettings`], *optional*):
            Generation and retry settings.
        options ([`~addressvlm.labels.options.LabelRunOptions`], *optional*):
            What to label and where results go: ``cache``, ``image_key``, ``limit``, ``splits``, ``city``,
            ``report``, ``overwrite``.
        progress (`bool`, *optional*, defaults to `True`):
            Show progress bars.
        overrides:
            Single options by name (``overwrite=True, limit=10``), on top of ``options``.

    Returns:
        [`LabelReport`]: the run's counts.

    Raises:
        `ValueError`: for a bad input (missing split or field, empty value), naming the dataset, split and row.
        `FileExistsError`: if `output_dir` is not empty and `overwrite` is not set.
        [`~addressvlm.labels.backends.BackendError`]: if the backend cannot serve requests (progress is cached).
    """
    from addressvlm.data.storage import (
        _resolve_image_root,
        check_dataset_kind,
        load_address_dataset,
        load_dataset_dict,
        read_build_info,
        save_dataset_dict,
    )

    options = replace(options or LabelRunOptions(), **overrides)
    splits = options.splits.split(",") if isinstance(options.splits, str) else options.splits
    task = TASKS[task] if isinstance(task, str) else task
    templates = templates or load_task_templates(task.name)
    settings = settings or GenerationSettings()
    dataset_path, output_dir = Path(dataset_path), Path(output_dir)
    check_output_folder(output_dir)
    check_not_an_input(output_dir, [dataset_path, options.cache, options.report])
    check_dataset_kind(dataset_path, (task.input_kind,), f"{task.name} labelling")
    if options.limit is not None and options.limit < 1:
        raise ValueError(f"limit must be >= 1, got {options.limit}")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not options.overwrite:
        raise FileExistsError(f"{output_dir} exists and is not empty; pass --overwrite to replace it")

    info = read_build_info(dataset_path)
    raw = load_dataset_dict(dataset_path)
    splits = list(splits or (raw.keys() if task.name == "alignment" else ["train"]))
    unknown = [s for s in splits if s not in raw]
    if unknown:
        raise ValueError(f"{dataset_path}: no split(s) {unknown}; available: {list(raw.keys())}")
    with _datasets_progress(progress):
        resolved = load_address_dataset(dataset_path)
    selected, skipped = _select_rows(raw, resolved, splits, options.limit, dataset_path, task)
    if not selected:
        raise ValueError(f"{dataset_path}: nothing to label in split(s) {splits}")
    default_city = options.city or str(info.get("city") or DEFAULT_CITY)

    def city_of(row: Mapping[str, Any]) -> str:
        return options.city or str(row.get("city") or default_city)

    validators = _validators(task, raw, city_of)
    items = [
        task.item(row, image, templates, city_of(row))
        for chosen in selected.values()
        for row, image in chosen
        if image is not None
    ]
    logger.info("%s: %d items to label from %s (splits %s)", task.name, len(items), dataset_path, list(selected))

    cache = LabelCache(options.cache or default_cache_path(output_dir)) if backend is not None else None
    with contextlib.nullcontext() if cache is None else cache:
        runner = LabelRunner(backend, validators, settings, cache, image_key_mode=options.image_key, progress=progress)
        outcomes, report = runner.run(items)
    report.skipped = skipped

    output = _build_output(task, raw, selected, outcomes, templates, city_of)
    build_info = _output_build_info(task, info)
    build_info["labels"] = {
        "task": task.name,
        "source_dataset": str(dataset_path.resolve()),
        "splits": {split: len(chosen) for split, chosen in selected.items()},
        "limit": options.limit,
        "backend": backend.describe() if backend is not None else {"backend": "none (templated reasons only)"},
        "templates": {role: {"file": t.source, "sha256": t.sha256} for role, t in vars(templates).items()},
        "label_format": templates.target.text,
        "settings": asdict(settings),
        "image_key_mode": options.image_key,
        "cache": str(cache.path) if cache is not None else None,
        "counts": {
            **{k: getattr(report, k) for k in ("total", "model", "fallen_back", "template_only", "failed")},
            "skipped": skipped,
        },
    }
    with _datasets_progress(progress):
        save_dataset_dict(
            output, output_dir, build_info, _resolve_image_root(dataset_path, info, None), overwrite=options.overwrite
        )
    atomic_write_json(options.report or output_dir / REPORT_FILE, asdict(report))
    return report


def _validators(task: LabelTask, raw, city_of) -> dict[str, LabelValidator]:
    """One validator per city, knowing every street and district of that city in the whole dataset."""
    names: dict[str, dict[str, set[str]]] = {}
    for split in raw:
        for row in raw[split].select_columns([c for c in _NAME_COLUMNS if c in raw[split].column_names]):
            if row.get("street") and row.get("district"):
                per_kind = names.setdefault(city_of(row), {"street": set(), "district": set()})
                per_kind["street"].add(str(row["street"]).strip())
                per_kind["district"].add(str(row["district"]).strip())
    return {
        city: LabelValidator(per_kind, answer_kind=task.answer_kind, required_kinds=task.required_kinds)
        for city, per_kind in names.items()
    }


def _build_output(task, raw, selected, outcomes: Sequence[LabelOutcome], templates, city_of):
    """The labelled `DatasetDict`, rows in input order."""
    from datasets import Dataset, DatasetDict

    outcome_iter = iter(outcomes)
    output = DatasetDict()
    for split, chosen in selected.items():
        city_column = "city" in raw[split].column_names
        labelled = []
        for row, image in chosen:
            if image is None:  # passed through unchanged
                labelled.append(row)
                continue
            labelled.append(_output_row(task, row, next(outcome_iter), templates, city_of(row)))
        output[split] = Dataset.from_list(labelled, features=_features(task, raw[split].features, city_column))
    return output


def _output_build_info(task: LabelTask, info: Mapping[str, Any]) -> dict[str, Any]:
    """`build_info.json` of the output, before the ``labels`` section (image roots are set when saving)."""
    source = {k: v for k, v in info.items() if k not in ("image_root", "image_root_absolute")}
    if task.name == "alignment":
        return source
    # A GeoReasoner stage-1 set is a new dataset: keep the VQA set's record apart from the stage-1 fields.
    return {
        "builder": "label-georeasoner",
        "city": info.get("city"),
        "path_columns": ["image", "street_view", "satellite"],
        "source_build_info": source,
    }
