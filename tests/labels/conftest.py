"""Fixtures of the labelling tests: tiny datasets on disk, a scripted chat-completions server, a scripted backend.

Tests reach the helpers through fixtures (``labels_kit``, ``chat_server``, ...) rather than imports, so they work
whether or not ``tests/`` becomes a package.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from addressvlm.labels.backends.base import LabelBackend, LabelRequest, LabelResult


STREETS = [
    "Aleksanterinkatu",
    "Mannerheimintie",
    "Kaivokatu",
    "Forbes Ave",
    "Liberty Avenue",
    "Penn Ave",
    "Atwood St",
    "Market Street",
    "Mission Street",
    "Bigelow Blvd",
    "Fifth Ave",
    "Smithfield St",
]
DISTRICTS = ["Kluuvi", "Downtown", "Oakland"]
CITY = "Testville"
_HINT = re.compile(r"taken on (?P<street>.+?), in the district (?P<district>.+?)\.")
_GEO_HINT = re.compile(r"taken in the (?P<district>.+?) district of")


def address(i: int) -> tuple[str, str]:
    """Street and district of row `i` of the test datasets."""
    return STREETS[i % len(STREETS)], DISTRICTS[i % len(DISTRICTS)]


def _write_images(folder: Path, prefix: str, n: int, size=(48, 40)) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"{prefix}_{i:03d}.png"
        Image.new("RGB", size, ((37 * i) % 256, (91 * i + 40) % 256, 120)).save(folder / name)
        names.append(f"{folder.name}/{name}")
    return names


def make_stage1_dataset(root: Path, n: int = 6, validation: int = 2, general: int = 0) -> Path:
    """Write a stage-1 set (``docs/data_format.md`` §3) of `n` rows (last `validation` rows in ``validation``),
    plus `general` rows of mixed-in general VQA (no address, ``label_source="general"``) in the middle of train."""
    from datasets import Dataset, DatasetDict

    from addressvlm.data.storage import save_dataset_dict

    images_root = root / "images"
    grafted = _write_images(images_root / "grafted", "g", n)
    street_views = _write_images(images_root / "street", "s", n, size=(40, 30))
    rows = []
    for i in range(n):
        street, district = address(i)
        question = "On which street and in which district was the street-view photo taken?"
        answer = f"{street}, {district}"
        rows.append(
            {
                "id": f"s1-{i:03d}",
                "image": grafted[i],
                "street_view": street_views[i],
                "satellite": "",
                "location_id": f"loc{i}",
                "street": street,
                "district": district,
                "question": question,
                "answer": answer,
                "reason": "",
                "label_source": "",
                "conversations": [
                    {"from": "human", "value": f"<image>\n{question}"},
                    {"from": "gpt", "value": answer},
                ],
            }
        )
    extra = _write_images(images_root / "general", "x", general)
    for i in range(general):
        conversation = [{"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A cat."}]
        rows.insert(
            1,
            {
                **{key: "" for key in rows[0]},
                "id": f"general-{i}",
                "image": extra[i],
                "label_source": "general",
                "conversations": conversation,
            },
        )
    splits = {"train": rows[: n + general - validation]}
    if validation:
        splits["validation"] = rows[n + general - validation :]
    dataset = DatasetDict({name: Dataset.from_list(part) for name, part in splits.items()})
    info = {"builder": "test", "city": CITY, "path_columns": ["image", "street_view", "satellite"]}
    return save_dataset_dict(dataset, root / "stage1", info, images_root)


def make_vqa_dataset(root: Path, n: int = 5) -> Path:
    """Write a VQA set with `n` training images (plus one test image) in the §2 schema."""
    from datasets import Dataset, DatasetDict

    from addressvlm.data.storage import save_dataset_dict

    images_root = root / "images"
    images = _write_images(images_root / "street", "v", n + 1)
    rows = []
    for i in range(n + 1):
        street, district = address(i)
        question = "Which district is depicted in the photo? Answer the question using a single word or phrase."
        rows.append(
            {
                "id": f"vqa-{i:03d}",
                "image": images[i],
                "location_id": f"loc{i}",
                "street": street,
                "district": district,
                "lat": 60.0 + i / 1000,
                "lon": 24.0,
                "conversations": [
                    {"from": "human", "value": f"<image>\n{question}"},
                    {"from": "gpt", "value": district},
                ],
                "questions": [
                    {
                        "question": question,
                        "answer": district,
                        "level": "district",
                        "type": "generation",
                        "reference": district,
                        "options": [],
                    }
                ],
            }
        )
    dataset = DatasetDict({"train": Dataset.from_list(rows[:n]), "test": Dataset.from_list(rows[n:])})
    return save_dataset_dict(dataset, root / "vqa", {"builder": "test", "city": CITY}, images_root)


def good_label(prompt: str) -> str:
    """A label that passes validation, written from the hint in a labelling prompt."""
    match = _HINT.search(prompt)
    if match:
        return (
            f"The street view was taken on {match['street']} in {match['district']}: the road layout next to "
            "the label on the map matches the photo."
        )
    match = _GEO_HINT.search(prompt)
    if match:
        return f"The image was taken in {match['district']}, judging by its buildings and trees."
    raise AssertionError(f"no hint in prompt {prompt!r}")


def answer_from_hint(body: dict, index: int) -> Reply:
    """Default server behaviour: a valid label for the request's prompt."""
    return Reply(good_label(body["messages"][0]["content"][0]["text"]))


def street_of(prompt: str) -> str:
    """The reference street named in an alignment labelling prompt."""
    return _HINT.search(prompt)["street"]


# --------------------------------------------------------------------------------------------------------------
# A chat-completions server on 127.0.0.1 (ephemeral port) with scripted replies.


@dataclass
class Reply:
    """One scripted HTTP reply: a chat completion of `text`, or `status` with `body` (dict -> JSON)."""

    text: str | None = None
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sleep: float = 0.0


def completion(text: str, model: str = "test-model") -> dict:
    """A protocol-correct chat-completion response body."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def error_body(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "code": None}}


@dataclass
class Hit:
    """One request the server received."""

    path: str
    headers: dict[str, str]  # names lower-cased (HTTP header names are case-insensitive)
    body: dict

    @property
    def prompt(self) -> str:
        return self.body["messages"][0]["content"][0]["text"]


class ChatServer:
    """A threaded ``http.server`` speaking the chat-completions protocol.

    Args:
        responder: ``(body, index) -> Reply``; defaults to valid labels built from the prompt's hint.
        delay: seconds every reply waits before being sent.
        max_requests: requests served; later ones get 503 and the server shuts itself down.
        lifetime: seconds after which the server shuts itself down regardless.
    """

    def __init__(
        self,
        responder: Callable[[dict, int], Reply] | None = None,
        delay: float = 0.0,
        max_requests: int = 200,
        lifetime: float = 120.0,
    ):
        self.responder = responder or answer_from_hint
        self.delay = delay
        self.max_requests = max_requests
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 -- http.server naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with server._lock:
                    index = len(server.hits)
                    headers = {key.lower(): value for key, value in self.headers.items()}
                    server.hits.append(Hit(self.path, headers, json.loads(raw)))
                if index >= server.max_requests:
                    threading.Thread(target=server.stop, daemon=True).start()
                    reply = Reply(status=503, body=error_body("request budget of the test server spent", "test"))
                else:
                    reply = server.responder(server.hits[index].body, index)
                time.sleep(server.delay + reply.sleep)
                if reply.body is None:
                    payload = json.dumps(completion(reply.text or "")).encode()
                elif isinstance(reply.body, (dict, list)):
                    payload = json.dumps(reply.body).encode()
                else:
                    payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ChatServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def prompts(self) -> list[str]:
        with self._lock:
            return [hit.prompt for hit in self.hits]


@pytest.fixture
def chat_server():
    """Factory of started `ChatServer`s, all stopped at teardown."""
    servers: list[ChatServer] = []

    def start(**kwargs) -> ChatServer:
        server = ChatServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --------------------------------------------------------------------------------------------------------------
# An in-process backend with scripted texts.


class ScriptedBackend(LabelBackend):
    """Backend whose reply to a request is ``script(request, call_index)`` (`None` = a failed request)."""

    name = "scripted"

    def __init__(self, script: Callable[[LabelRequest, int], str | None], batch_size: int = 4, model: str = "fake"):
        super().__init__(model, batch_size=batch_size)
        self.script = script
        self.calls: list[LabelRequest] = []

    def generate(self, requests, callback=None):
        results = []
        for index, request in enumerate(requests):
            text = self.script(request, len(self.calls))
            self.calls.append(request)
            self.stats["requests"] += 1
            result = LabelResult(text) if text is not None else LabelResult(None, "scripted failure")
            results.append(result)
            if callback is not None:
                callback(index, result)
        return results


@pytest.fixture
def labels_kit():
    """The helpers of this folder: datasets, labels, replies and the scripted backend."""
    return SimpleNamespace(
        STREETS=STREETS,
        DISTRICTS=DISTRICTS,
        CITY=CITY,
        address=address,
        make_stage1_dataset=make_stage1_dataset,
        make_vqa_dataset=make_vqa_dataset,
        good_label=good_label,
        street_of=street_of,
        Reply=Reply,
        completion=completion,
        error_body=error_body,
        ScriptedBackend=ScriptedBackend,
    )
