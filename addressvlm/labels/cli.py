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
import json
import logging
import sys

from addressvlm.utils.errors import cli_command, run_command


__all__ = ["add_label_arguments", "build_backend", "main", "register", "run_label_command"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: X)`` only for options whose default is informative (not None / False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _json_object(text: str) -> dict:
    """argparse type: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def add_label_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """Add the options shared by both labelling commands.

    Args:
        parser (`argparse.ArgumentParser`): the sub-command parser.
        task (`str`): ``alignment`` or ``georeasoner`` (adjusts help texts).
    """
    source = "stage-1 (alignment) dataset" if task == "alignment" else "VQA dataset (its training images are used)"
    parser.add_argument("dataset", help=f"input {source}: a folder with the DatasetDict and build_info.json")
    parser.add_argument("-o", "--output", required=True, help="output folder of the completed stage-1 dataset")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")

    model = parser.add_argument_group("labelling model")
    model.add_argument(
        "--backend",
        choices=("local", "http"),
        default="local",
        help="local: a checkpoint loaded by addressvlm.models; http: an OpenAI-compatible server",
    )
    model.add_argument("--model", help="model path or Hub id (local), or the request's model name (http)")
    model.add_argument("--adapter", help="local: PEFT adapter to apply on top of --model")
    model.add_argument("--dtype", help="local: weight dtype, e.g. bfloat16 (default: the loader's choice)")
    # The old spelling, hidden: one flag name for the dtype across commands (eval, probe, merge, the recipes).
    model.add_argument("--torch-dtype", dest="dtype", help=argparse.SUPPRESS)
    model.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="local: images per forward pass (default 8); http: requests per round (default 4 x --concurrency)",
    )
    model.add_argument("--device", help="local: where to run, e.g. cuda:0 (default: cuda when available, else cpu)")
    model.add_argument("--base-url", help="http: API root, e.g. http://127.0.0.1:8000/v1")
    model.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="http: environment variable holding the API key (never logged); unset = no key",
    )
    model.add_argument("--concurrency", type=int, default=8, help="http: requests in flight at once")
    model.add_argument("--timeout", type=float, default=120.0, help="http: per-request socket timeout, seconds")
    model.add_argument(
        "--max-retries",
        type=int,
        default=5,
        help="http: retries of a failed request (429, 5xx, timeout, malformed body), with "
        "exponential backoff + jitter",
    )
    model.add_argument(
        "--max-retry-wait",
        type=float,
        default=60.0,
        help="http: longest wait a 429 response's Retry-After may ask for; a longer one stops the run (labels "
        "finished so far are cached)",
    )
    model.add_argument(
        "--extra-body",
        type=_json_object,
        default=None,
        help='http: JSON object merged into every request body, e.g. \'{"stop": ["<|end|>"]}\'',
    )
    model.add_argument(
        "--fallback-only",
        action="store_true",
        help="use no model: every row gets the templated reason (label_source 'template')",
    )

    gen = parser.add_argument_group("generation and validation")
    gen.add_argument("--max-new-tokens", type=int, default=160, help="length limit of one generated label")
    gen.add_argument("--temperature", type=float, default=0.0, help="temperature of the first attempt (0 = greedy)")
    gen.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold (default: backend's)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the first attempt; attempt k uses seed + k")
    gen.add_argument(
        "--label-retries",
        type=int,
        default=2,
        help="extra attempts for a label that fails validation, before the templated fallback",
    )
    gen.add_argument(
        "--retry-temperature", type=float, default=0.7, help="minimum temperature of those extra attempts"
    )

    files = parser.add_argument_group("templates (defaults: addressvlm/labels/prompts/)")
    files.add_argument("--prompt-file", help="labelling prompt with the reference hint ({street} {district} ...)")
    files.add_argument(
        "--question-file", help="training question without the hint ({city}); replaces the rows' own questions"
    )
    files.add_argument("--fallback-file", help="templated reason used when no model label passes validation")
    files.add_argument("--target-file", help="training target built from {answer} and {reason}")

    run = parser.add_argument_group("run")
    run.add_argument("--cache", help="JSONL cache of results (default: <output>.labels.jsonl); re-runs resume it")
    run.add_argument(
        "--image-key",
        choices=("content", "stat"),
        default="content",
        help="identify images in cache keys by content hash or by path + mtime + size",
    )
    run.add_argument("--limit", type=int, default=None, help="label and write only the first N rows")
    run.add_argument(
        "--splits",
        default=None,
        help="comma-separated splits to label (default: all for alignment, train for georeasoner)",
    )
    run.add_argument("--city", default=None, help="city name for {city} (default: dataset's city or 'the city')")
    run.add_argument("--report", default=None, help="JSON report path (default: <output>/label_report.json)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def build_backend(args: argparse.Namespace):
    """Create the backend the options ask for, or `None` with ``--fallback-only``.

    Args:
        args (`argparse.Namespace`): parsed options.

    Returns:
        [`~addressvlm.labels.backends.LabelBackend`] or `None`.

    Raises:
        `ValueError`: when a required option (``--model``, ``--base-url``) is missing.
    """
    if args.fallback_only:
        return None
    if not args.model:
        raise ValueError("--model is required unless --fallback-only is given")
    if args.backend == "http":
        from addressvlm.labels.backends import OpenAIChatBackend

        if not args.base_url:
            raise ValueError("--backend http needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        return OpenAIChatBackend(
            args.base_url,
            args.model,
            api_key_env=args.api_key_env,
            concurrency=args.concurrency,
            timeout=args.timeout,
            max_retries=args.max_retries,
            max_retry_after=args.max_retry_wait,
            batch_size=args.batch_size,
            extra_body=args.extra_body,
        )
    from addressvlm.labels.backends import LocalBackend

    return LocalBackend(
        args.model,
        adapter=args.adapter,
        torch_dtype=args.dtype,
        batch_size=args.batch_size or 8,
        device=args.device,
    )


def run_label_command(args: argparse.Namespace, task: str) -> int:
    """Run one labelling command from parsed options.

    Args:
        args (`argparse.Namespace`): parsed options (see [`add_label_arguments`]).
        task (`str`): ``alignment`` or ``georeasoner``.

    Returns:
        `int`: 0 when every item got a label, 1 on failures. Bad options or input raise (the CLI wrapper,
        `addressvlm.utils.errors`, turns them into ``error: ...`` and exit status 2).
    """
    from addressvlm.labels.backends import BackendError
    from addressvlm.labels.pipeline import REPORT_FILE, label_dataset
    from addressvlm.labels.runner import GenerationSettings
    from addressvlm.labels.templates import load_task_templates

    templates = load_task_templates(
        task,
        prompt=args.prompt_file,
        question=args.question_file,
        fallback=args.fallback_file,
        target=args.target_file,
    )
    settings = GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        label_retries=args.label_retries,
        retry_temperature=args.retry_temperature,
    )
    backend = build_backend(args)
    try:
        report = label_dataset(
            task,
            args.dataset,
            args.output,
            backend,
            templates=templates,
            settings=settings,
            cache_path=args.cache,
            splits=args.splits.split(",") if args.splits else None,
            limit=args.limit,
            city=args.city,
            override_question=bool(args.question_file),
            image_key_mode=args.image_key,
            overwrite=args.overwrite,
            report_path=args.report,
            progress=not args.no_progress,
        )
    except BackendError as err:  # reported by the one error wrapper (`cli_command`): exit status 1
        message = f"labelling stopped: {err} (finished items are cached; fix the problem and re-run)"
        raise RuntimeError(message) from err
    finally:
        if backend is not None:
            backend.close()
    print(report.summary())
    print(f"wrote {args.output} (report: {args.report or f'{args.output}/{REPORT_FILE}'})")
    return 1 if report.failed else 0


@cli_command
def _label_alignment(args: argparse.Namespace) -> int:
    return run_label_command(args, "alignment")


@cli_command
def _label_georeasoner(args: argparse.Namespace) -> int:
    return run_label_command(args, "georeasoner")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``label-alignment`` and ``label-georeasoner`` to the ``data`` group.

    Args:
        subparsers (`argparse._SubParsersAction`): the ``data`` group's sub-parsers.
    """
    formatter = _HelpFormatter
    alignment = subparsers.add_parser(
        "label-alignment",
        help="write the reasons of a stage-1 (cross-view alignment) set with an LVLM, or templated ones",
        description="Fill reason / label_source / conversations of a stage-1 set (AddressVLM section 2.2).",
        formatter_class=formatter,
    )
    add_label_arguments(alignment, "alignment")
    alignment.set_defaults(func=_label_alignment)

    georeasoner = subparsers.add_parser(
        "label-georeasoner",
        help="write district-level reasoning labels for the GeoReasoner baseline's stage 1 (appendix C)",
        description="Build a GeoReasoner stage-1 set from the training images of a VQA set (street views only).",
        formatter_class=formatter,
    )
    add_label_arguments(georeasoner, "georeasoner")
    georeasoner.set_defaults(func=_label_georeasoner)


def main(argv: list[str] | None = None) -> int:
    """Run the labelling commands standalone: ``python -m addressvlm.labels.cli label-alignment ...``.

    Args:
        argv (`list[str]`, *optional*): arguments; defaults to `sys.argv[1:]`.

    Returns:
        `int`: the exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m addressvlm.labels.cli", description=__doc__.splitlines()[0])
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%X")
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
