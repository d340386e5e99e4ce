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
from dataclasses import asdict, dataclass
from pathlib import Path

from addressvlm.inference.cli import DeviceOptions
from addressvlm.utils.options import add_command, option, options_from


__all__ = ["AskOptions", "DemoOptions", "format_answers", "printable", "register"]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class AnswererOptions(DeviceOptions):
    """The model that answers (``ask`` and ``demo``; `AddressAnswerer`): [`DeviceOptions`] and

    Args:
        model (`str`): checkpoint folder, adapter folder (its base is read from adapter_config.json) or Hub id.
        adapter (`str`, *optional*): adapter folder to apply on top of MODEL.
        rag (`str`, *optional*): retrieval index folder: show similar views.
        max_new_tokens (`int`, *optional*, defaults to 32): answer length limit.
    """

    model: str = option(positional=True, metavar="MODEL")
    adapter: str | None = option(None)
    rag: str | None = option(None, metavar="INDEX")
    max_new_tokens: int = option(32)


@dataclass(kw_only=True)
class AskOptions(AnswererOptions):
    """Options of ``addressvlm ask`` (`run_ask`): [`AnswererOptions`] and

    Args:
        images (`list[str]`): street-view photos (JPEG, PNG, ...).
        question (`list[str]`, *optional*): ask this instead of the standard questions (repeatable).
        json (`bool`, *optional*, defaults to `False`): print one JSON object instead of tables.
        batch_size (`int`, *optional*, defaults to 8): (image, question) pairs per generate call.
    """

    images: list[str] = option(positional=True, metavar="IMAGE", nargs="+")
    question: list[str] | None = option(None, action="append")
    json: bool = option(False)
    batch_size: int = option(8)


@dataclass(kw_only=True)
class DemoOptions(AnswererOptions):
    """Options of ``addressvlm demo`` (`run_demo`): [`AnswererOptions`] and

    Args:
        city (`str`, *optional*): examples, names and map: a VQA dataset folder (its test split), a city folder or a
            metadata table.
        examples (`int`, *optional*, defaults to 8): example street views offered.
        host (`str`, *optional*, defaults to `"127.0.0.1"`): address to listen on (0.0.0.0: every interface).
        port (`int`, *optional*, defaults to 7860): port to listen on.
    """

    city: str | None = option(None)
    examples: int = option(8)
    host: str = option("127.0.0.1")
    port: int = option(7860)


def register(subparsers) -> None:
    add_command(
        subparsers,
        "ask",
        AskOptions,
        run_ask,
        help="answer address questions about street-view photos (default: district, street, street + district)",
        description="Ask a model the standard address questions (or --question) about each image and print a "
        "table per image (or JSON with --json). All (image, question) pairs are answered in batches.",
    )
    add_command(
        subparsers,
        "demo",
        DemoOptions,
        run_demo,
        help="serve a Gradio page: drop a street-view photo, see the answers, the checks and the map",
        description="A Gradio app (the Hugging Face Spaces convention) around one model, loaded once. Analytics are "
        "off and no share link is made.",
    )


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


def run_ask(args: argparse.Namespace) -> int:
    """``addressvlm ask``: answer questions about images; a table per image, or JSON."""
    from .answerer import AddressAnswerer, check_model, load_images
    from .retrieval import load_retriever

    options = options_from(args, AskOptions)

    images = load_images(options.images)  # every file is checked before the model loads
    check_model(options.model, options.adapter)
    if options.question is not None and not all(q.strip() for q in options.question):
        raise ValueError("--question is empty")
    retriever = load_retriever(options.rag) if options.rag else None
    answerer = AddressAnswerer.from_pretrained(
        options.model,
        options.adapter,
        device=options.device,
        dtype=options.dtype,
        max_new_tokens=options.max_new_tokens,
        batch_size=options.batch_size,
        progress=lambda fraction, stage: logger.info("%3.0f%% %s", 100 * fraction, stage),
    )
    began = time.perf_counter()
    results = answerer.ask(images, options.question)
    seconds = time.perf_counter() - began
    neighbours = [retriever.search(image, 4) if retriever else [] for image in images]
    n_questions = sum(len(answers) for answers in results)
    if options.json:
        payload = {
            "model": answerer.name,
            "seconds": round(seconds, 3),
            "images": [
                {
                    "image": name,
                    "answers": [asdict(answer) for answer in answers.values()],
                    **({"neighbours": [asdict(n) for n in found]} if retriever else {}),
                }
                for name, answers, found in zip(options.images, results, neighbours)
            ],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    for name, answers, found in zip(options.images, results, neighbours):
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


def run_demo(args: argparse.Namespace) -> int:
    """``addressvlm demo``: serve the Gradio app until interrupted."""
    from .answerer import check_model
    from .app import _gradio, build_demo, launch_demo
    from .backend import ModelLoader
    from .city import DemoCity
    from .retrieval import load_retriever

    options = options_from(args, DemoOptions)

    _gradio()  # the [demo] extra, before anything slow
    _check_port(options.host, options.port)
    check_model(options.model, options.adapter)  # the model itself loads in the background, with progress on the page
    retriever = load_retriever(options.rag) if options.rag else None
    city = None
    if options.city:
        logger.info("demo: reading the city %s", options.city)
        city = DemoCity.load(options.city, n_examples=options.examples)
    loader = ModelLoader(
        options.model,
        options.adapter,
        device=options.device,
        dtype=options.dtype,
        max_new_tokens=options.max_new_tokens,
    ).start()
    demo = build_demo(loader, city, retriever)
    allowed = [str(Path(city.image_root).resolve())] if city is not None else []
    launch_demo(demo, host=options.host, port=options.port, allowed_paths=allowed, block=True)
    return 0
