"""``addressvlm ask`` and ``addressvlm demo``: question a trained model about photos, in a terminal or a browser.

Examples::

    addressvlm ask runs/addressvlm street1.jpg street2.jpg            # the standard questions, a table per image
    addressvlm ask runs/addressvlm street1.jpg --question "Which district is this?" --json
    addressvlm demo runs/addressvlm --city data/vqa --port 7860       # the Gradio app with examples and the map
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from addressvlm.utils.errors import cli_command


__all__ = ["format_answers", "printable", "register"]

logger = logging.getLogger(__name__)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="checkpoint folder, adapter folder (its base is read from adapter_config.json) or Hub id",
    )
    parser.add_argument("--adapter", default=None, help="adapter folder to apply on top of MODEL")
    parser.add_argument("--rag", metavar="INDEX", default=None, help="retrieval index folder: show similar views")
    parser.add_argument("--device", default="auto", help="torch device (cpu, cuda, ...); auto picks cuda if present")
    from addressvlm.inference.cli import _DTYPES

    parser.add_argument("--dtype", choices=_DTYPES, default="auto", help="auto: bfloat16 on a GPU, else float32")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="answer length limit")


def register(subparsers) -> None:
    ask = subparsers.add_parser(
        "ask",
        help="answer address questions about street-view photos (default: district, street, street + district)",
        description="Ask a model the standard address questions (or --question) about each image and print a "
        "table per image (or JSON with --json). All (image, question) pairs are answered in batches.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_model_options(ask)
    ask.add_argument("images", metavar="IMAGE", nargs="+", help="street-view photos (JPEG, PNG, ...)")
    ask.add_argument(
        "--question", action="append", default=None, help="ask this instead of the standard questions (repeatable)"
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ask.add_argument("--batch-size", type=int, default=8, help="(image, question) pairs per generate call")
    ask.set_defaults(func=run_ask)

    demo = subparsers.add_parser(
        "demo",
        help="serve a Gradio page: drop a street-view photo, see the answers, the checks and the map",
        description="A Gradio app (the Hugging Face Spaces convention) around one model, loaded once. Analytics are "
        "off and no share link is made.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_model_options(demo)
    demo.add_argument(
        "--city",
        default=None,
        help="examples, names and map: a VQA dataset folder (its test split), a city folder or a metadata table",
    )
    demo.add_argument("--examples", type=int, default=8, help="example street views offered")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    demo.add_argument("--port", type=int, default=7860, help="port to listen on")
    demo.set_defaults(func=run_demo)


# ---------------------------------------------------------------------------------------------------- ask
def printable(text: str) -> str:
    """``text`` on one line: control characters (line breaks, tabs, ``\\r``) become spaces, so tables stay tables."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def format_answers(image: str, answers, neighbours=()) -> str:
    """The table `addressvlm ask` prints for one image (answers through `printable`; ``--json`` keeps them raw).

    Args:
        image (`str`): the image as given on the command line.
        answers (`Mapping[str, Answer]`): key -> answer, from `AddressAnswerer.ask`.
        neighbours (`Sequence[Neighbour]`, *optional*): similar street views (``--rag``).
    """
    from .questions import STANDARD_LABELS
    from .retrieval import neighbour_caption

    labels = [STANDARD_LABELS.get(key) or answer.question for key, answer in answers.items()]
    width = max(len("question"), *(len(label) for label in labels))
    lines = [image, f"  {'question':<{width}}  answer", f"  {'-' * width}  {'-' * 6}"]
    lines += [f"  {label:<{width}}  {printable(answer.answer)}" for label, answer in zip(labels, answers.values())]
    if neighbours:
        lines.append("  similar street views:")
        lines += [f"    {neighbour_caption(n)}  {n.image}" for n in neighbours]
    return "\n".join(lines)


@cli_command
def run_ask(args: argparse.Namespace) -> int:
    """``addressvlm ask``: answer questions about images; a table per image, or JSON."""
    from .answerer import AddressAnswerer, check_model, load_images
    from .retrieval import load_retriever

    images = load_images(args.images)  # every file is checked before the model loads
    check_model(args.model, args.adapter)
    if args.question is not None and not all(q.strip() for q in args.question):
        raise ValueError("--question is empty")
    retriever = load_retriever(args.rag) if args.rag else None
    answerer = AddressAnswerer.from_pretrained(
        args.model,
        args.adapter,
        device=args.device,
        dtype=args.dtype,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        progress=lambda fraction, stage: logger.info("%3.0f%% %s", 100 * fraction, stage),
    )
    began = time.perf_counter()
    results = answerer.ask(images, args.question)
    seconds = time.perf_counter() - began
    neighbours = [retriever.search(image, 4) if retriever else [] for image in images]
    n_questions = sum(len(answers) for answers in results)
    if args.json:
        payload = {
            "model": answerer.name,
            "seconds": round(seconds, 3),
            "images": [
                {
                    "image": name,
                    "answers": [answer.to_dict() for answer in answers.values()],
                    **({"neighbours": [n.to_dict() for n in found]} if retriever else {}),
                }
                for name, answers, found in zip(args.images, results, neighbours)
            ],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    for name, answers, found in zip(args.images, results, neighbours):
        print(format_answers(name, answers, found), end="\n\n")
    print(
        f"{len(images)} image(s) x {n_questions // max(len(images), 1)} question(s) in {seconds:.2f} s "
        f"({seconds / max(n_questions, 1):.2f} s per question), model {answerer.name}"
    )
    return 0


# ---------------------------------------------------------------------------------------------------- demo
def _check_port(host: str, port: int) -> None:
    """Fail before loading anything when ``host:port`` cannot be served (in use, or not an address here)."""
    import socket

    if not 0 < port < 65536:
        raise ValueError(f"--port {port}: expected a port number between 1 and 65535")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as err:
            reason = err.strerror or err
            message = f"--port {port}: cannot listen on {host}:{port} ({reason}); pick another --port"
            raise ValueError(message) from None


@cli_command
def run_demo(args: argparse.Namespace) -> int:
    """``addressvlm demo``: serve the Gradio app until interrupted."""
    from .answerer import check_model
    from .app import _gradio, build_demo, launch_demo
    from .backend import ModelLoader
    from .city import DemoCity
    from .retrieval import load_retriever

    _gradio()  # the [demo] extra, before anything slow
    _check_port(args.host, args.port)
    check_model(args.model, args.adapter)  # the model itself loads in the background, with progress on the page
    retriever = load_retriever(args.rag) if args.rag else None
    city = None
    if args.city:
        logger.info("demo: reading the city %s", args.city)
        city = DemoCity.load(args.city, n_examples=args.examples)
    loader = ModelLoader(
        args.model, args.adapter, device=args.device, dtype=args.dtype, max_new_tokens=args.max_new_tokens
    ).start()
    demo = build_demo(loader, city, retriever)
    allowed = [str(Path(city.image_root).resolve())] if city is not None else []
    launch_demo(demo, host=args.host, port=args.port, allowed_paths=allowed, block=True)
    return 0
