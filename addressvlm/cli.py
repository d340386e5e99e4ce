"""The ``addressvlm`` command line: a thin dispatcher.

Each concern registers its own sub-commands from a small ``cli`` module (``addressvlm.data.cli``,
``addressvlm.labels.cli``, ...). Those modules import heavy libraries (torch, transformers) inside the
command functions, so ``addressvlm --help`` stays fast.

Commands::

    addressvlm data synth-city | build-vqa | build-alignment | stats | label-alignment | label-georeasoner |
                    locatability | georeasoner-format   # the GeoReasoner baseline: docs/baselines.md
    addressvlm eval        # batched evaluation of a model on a built test split
    addressvlm probe       # street-distribution probe (Fig. 5)
    addressvlm index build | add | info | knn | augment   # retrieval: image index, k-NN baseline, hinted data
    addressvlm train stage1 | stage2 | configs   # the training recipes and their shipped configs
    addressvlm merge       # merge an adapter into its base; optional stock Llava export
    addressvlm tiny-model  # write a backbone's offline tiny checkpoint (--backbone)
    addressvlm ask         # answer address questions about photos (a table per image, or --json)
    addressvlm demo        # the Gradio app: drop a photo, see the answers, the checks and the map
    addressvlm quickstart  # the whole pipeline on the offline city
    addressvlm experiment  # a grid of quickstart-scale runs (arm x seed) with paired differences

Errors end with one line on stderr (``error: ...``) and exit status 2 for bad input, 1 for other failures;
``--debug`` (anywhere on the command line) or ``ADDRESSVLM_DEBUG=1`` also prints the traceback
(`addressvlm.utils.errors`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from addressvlm.utils.errors import run_command
from addressvlm.utils.options import OptionsParser


__all__ = ["build_parser", "main"]

# (group or None, module) -- each module defines ``register(subparsers)``.
_REGISTRY: list[tuple[str | None, str]] = [
    ("data", "addressvlm.data.cli"),
    ("data", "addressvlm.labels.cli"),
    (None, "addressvlm.inference.cli"),
    (None, "addressvlm.retrieval.cli"),
    (None, "addressvlm.training.cli"),
    (None, "addressvlm.model_commands"),
    (None, "addressvlm.demo.cli"),
    (None, "addressvlm.quickstart"),
    (None, "addressvlm.experiment"),
]

_GROUP_HELP = {"data": "build datasets: the offline city, VQA sets, stage-1 grafted sets and their labels"}


def build_parser() -> argparse.ArgumentParser:
    parser = OptionsParser(  # every sub-command's parser is an OptionsParser too (options as dataclasses)
        prog="addressvlm",
        description="AddressVLM: cross-view alignment tuning for image address localization.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an error (also: ADDRESSVLM_DEBUG=1)"
    )
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for group, module_name in _REGISTRY:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:  # a concern not installed in this checkout
            if err.name and module_name.startswith(err.name):
                continue
            raise
        if group is None:
            module.register(top)
            continue
        if group not in groups:
            group_parser = top.add_parser(group, help=_GROUP_HELP.get(group), description=_GROUP_HELP.get(group))
            groups[group] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
            group_parser.set_defaults(func=lambda args, p=group_parser: p.print_help() or 2)
        module.register(groups[group])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``addressvlm`` command; return its exit status (2 for bad input, 1 for other failures)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere, also after the sub-command
    argv = [arg for arg in argv if arg != "--debug"]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "forwards_unknown_args", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.forwarded = unknown  # `addressvlm train stage1 ...`: the recipe parses its own arguments
    args.debug = debug
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args.func, args, debug=debug)


if __name__ == "__main__":
    sys.exit(main())
