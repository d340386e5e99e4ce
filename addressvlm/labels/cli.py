"""``addressvlm data label-alignment`` and ``addressvlm data label-georeasoner``.

Examples::

    # an OpenAI-compatible server (vLLM, SGLang, LM Studio, a hosted API); the key comes from $OPENAI_API_KEY
    addressvlm data label-alignment data/stage1 --output data/stage1-labelled \\
        --backend http --base-url http://127.0.0.1:8000/v1 --model llava-hf/llava-v1.6-mistral-7b-hf --concurrency 16

    # a local checkpoint, batched generate
    addressvlm data label-alignment data/stage1 --output data/stage1-labelled \\
        --backend local --model xtuner/llava-phi-3-mini-hf

    # no model at all: templated reasons (label_source "template")
    addressvlm data label-alignment data/stage1 --output data/stage1-labelled --fallback-only

    # GeoReasoner stage 1 from the training images of a VQA set
    addressvlm data label-georeasoner data/vqa --output data/georeasoner-stage1 \\
        --backend http --base-url http://127.0.0.1:8000/v1 --model llava-hf/llava-v1.6-mistral-7b-hf

Re-running the same command with ``--overwrite`` resumes from the cache (``<output>.labels.jsonl`` unless ``--cache``
is given): finished labels are reused, only the missing ones are requested. Exit status: 0 when every item got a
label; 1 when some items failed (the output is still written, with templated reasons for them, and a re-run retries
only those) or the backend could not be used; 2 for bad options or input (one line naming the problem).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from addressvlm.utils.errors import cli_command, run_command
from addressvlm.utils.options import OptionsParser, add_command, option, options_from

from .options import BackendOptions, GenerationSettings, LabelRunOptions, TemplateFiles


__all__ = ["main", "register", "run_label_command"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: X)`` only for options whose default is informative (not None / False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


@dataclass(kw_only=True)
class _AlignmentInput:
    dataset: str = option(
        help="input stage-1 (alignment) dataset: a folder with the DatasetDict and build_info.json", positional=True
    )
    output: str = option(help="output folder of the completed stage-1 dataset", aliases=["-o"])
    no_progress: bool = option(False, help="hide the progress bars")


@dataclass(kw_only=True)
class _GeoReasonerInput(_AlignmentInput):
    dataset: str = option(
        help="input VQA dataset (its training images are used): a folder with the DatasetDict and build_info.json",
        positional=True,
    )


def run_label_command(args: argparse.Namespace, task: str) -> int:
    """Run one labelling command from parsed options.

    Args:
        args (`argparse.Namespace`): parsed options (the fields of the options dataclasses in
            `addressvlm.labels.options`, ``dataset``, ``output`` and ``no_progress``).
        task (`str`): ``alignment`` or ``georeasoner``.

    Returns:
        `int`: 0 when every item got a label, 1 on failures. Bad options or input raise (the CLI wrapper,
        `addressvlm.utils.errors`, turns them into ``error: ...`` and exit status 2).
    """
    from addressvlm.labels.backends import BackendError
    from addressvlm.labels.pipeline import REPORT_FILE, label_dataset

    run = options_from(args, LabelRunOptions)
    templates = options_from(args, TemplateFiles).load(task)
    settings = options_from(args, GenerationSettings)
    backend = options_from(args, BackendOptions).build()
    try:
        report = label_dataset(
            task,
            args.dataset,
            args.output,
            backend,
            run,
            templates=templates,
            settings=settings,
            progress=not args.no_progress,
        )
    except BackendError as err:  # reported by the one error wrapper (`cli_command`): exit status 1
        message = f"labelling stopped: {err} (finished items are cached; fix the problem and re-run)"
        raise RuntimeError(message) from err
    finally:
        if backend is not None:
            backend.close()
    print(report.summary())
    print(f"wrote {args.output} (report: {run.report or f'{args.output}/{REPORT_FILE}'})")
    return 1 if report.failed else 0


@cli_command
def _label(args: argparse.Namespace) -> int:
    return run_label_command(args, args.label_task)


def _add(subparsers: argparse._SubParsersAction, name: str, inputs: type, **texts: str) -> None:
    parser = add_command(subparsers, f"label-{name}", inputs, _label, formatter_class=_HelpFormatter, **texts)
    parser.set_defaults(label_task=name)
    for group in (BackendOptions, GenerationSettings, TemplateFiles, LabelRunOptions):
        parser._add_dataclass_arguments(group)
    # The old spelling, hidden: one flag name for the dtype across commands (eval, probe, merge, the recipes).
    parser._option_string_actions["--torch-dtype"] = parser._option_string_actions["--dtype"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``label-alignment`` and ``label-georeasoner`` to the ``data`` group.

    Args:
        subparsers (`argparse._SubParsersAction`): the ``data`` group's sub-parsers (``parser_class=OptionsParser``).
    """
    _add(
        subparsers,
        "alignment",
        _AlignmentInput,
        help="write the reasons of a stage-1 (cross-view alignment) set with an LVLM, or templated ones",
        description="Fill reason / label_source / conversations of a stage-1 set (AddressVLM section 2.2).",
    )
    _add(
        subparsers,
        "georeasoner",
        _GeoReasonerInput,
        help="write district-level reasoning labels for the GeoReasoner baseline's stage 1 (appendix C)",
        description="Build a GeoReasoner stage-1 set from the training images of a VQA set (street views only).",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the labelling commands standalone: ``python -m addressvlm.labels.cli label-alignment ...``.

    Args:
        argv (`list[str]`, *optional*): arguments; defaults to `sys.argv[1:]`.

    Returns:
        `int`: the exit status.
    """
    parser = OptionsParser(prog="python -m addressvlm.labels.cli", description=__doc__.splitlines()[0])
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%X")
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
