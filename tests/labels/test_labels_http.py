"""The OpenAI-compatible HTTP backend against a real local server with scripted replies."""

from __future__ import annotations

import base64
import logging
import time

import pytest

from addressvlm.labels.backends import (
    BackendError,
    LabelRequest,
    MalformedResponseError,
    OpenAIChatBackend,
    parse_chat_completion,
    parse_retry_after,
)
from addressvlm.labels.runner import GenerationSettings, LabelItem, LabelRunner
from addressvlm.labels.validation import LabelValidator


SECRET = "sk-test-0123456789"


@pytest.fixture
def image(tmp_path):
    from PIL import Image

    path = tmp_path / "img.png"
    Image.new("RGB", (12, 10), (10, 200, 30)).save(path)
    return path


def _backend(server, **kwargs) -> OpenAIChatBackend:
    options = dict(api_key_env="LABELS_TEST_KEY", concurrency=2, timeout=2.0, max_retries=4)
    options.update(kwargs)
    return OpenAIChatBackend(server.url, "test-model", **options)


def test_request_body_and_headers(chat_server, labels_kit, image, monkeypatch, caplog):
    monkeypatch.setenv("LABELS_TEST_KEY", SECRET)
    server = chat_server(responder=lambda body, index: labels_kit.Reply("Forbes Ave, Downtown. Because."))
    caplog.set_level(logging.DEBUG)
    with _backend(server) as backend:
        request = LabelRequest(str(image), "Why is this Forbes Ave?", max_new_tokens=33, temperature=0.5, seed=3)
        [result] = backend.generate([request])
        assert result.text == "Forbes Ave, Downtown. Because." and backend.stats["requests"] == 1
        assert SECRET not in repr(backend) and SECRET not in str(backend.describe())

    [hit] = server.hits
    assert hit.path == "/v1/chat/completions"
    assert hit.headers["authorization"] == f"Bearer {SECRET}"
    assert hit.headers["content-type"] == "application/json"
    body = hit.body
    assert body["model"] == "test-model"
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (33, 0.5, 3)
    [message] = body["messages"]
    assert message["role"] == "user"
    text, picture = message["content"]
    assert text == {"type": "text", "text": "Why is this Forbes Ave?"}
    assert picture["type"] == "image_url"
    prefix = "data:image/png;base64,"
    assert picture["image_url"]["url"].startswith(prefix)
    assert base64.b64decode(picture["image_url"]["url"][len(prefix) :]) == image.read_bytes()
    assert SECRET not in caplog.text


def test_no_authorization_header_without_a_key(chat_server, labels_kit, image, monkeypatch):
    monkeypatch.delenv("LABELS_TEST_KEY", raising=False)
    server = chat_server(responder=lambda body, index: labels_kit.Reply("ok"))
    with _backend(server) as backend:
        assert backend.generate([LabelRequest(str(image), "q")])[0].text == "ok"
    assert "authorization" not in server.hits[0].headers


def test_429_timeout_malformed_and_500_are_retried(chat_server, labels_kit, image):
    Reply = labels_kit.Reply
    script = [
        Reply(
            status=429, body=labels_kit.error_body("slow down", "rate_limit_exceeded"), headers={"Retry-After": "1"}
        ),
        Reply("too late", sleep=1.0),  # the client times out after 0.4 s
        Reply(status=200, body="<html>not json</html>"),
        Reply(status=500, body=labels_kit.error_body("boom", "server_error")),
        Reply("Forbes Ave in Downtown."),
    ]
    server = chat_server(responder=lambda body, index: script[index])
    with _backend(server, timeout=0.4, concurrency=1) as backend:
        started = time.monotonic()
        [result] = backend.generate([LabelRequest(str(image), "q")])
        elapsed = time.monotonic() - started
        stats = dict(backend.stats)
    assert result.text == "Forbes Ave in Downtown."
    assert len(server.hits) == 5
    assert stats == {
        "malformed": 1,
        "rate_limited": 1,
        "requests": 5,
        "retries": 4,
        "server_errors": 1,
        "succeeded": 1,
        "timeouts": 1,
    }
    assert elapsed >= 1.0 + 0.4  # Retry-After was honoured, and the timeout waited for the client limit


def test_persistent_malformed_bodies_fail_after_the_retries(chat_server, labels_kit, image):
    bad = labels_kit.Reply(status=200, body={"choices": []})
    server = chat_server(responder=lambda body, index: bad)
    with _backend(server, max_retries=2) as backend:
        [result] = backend.generate([LabelRequest(str(image), "q")])
        stats = dict(backend.stats)
    assert not result.ok and "malformed" in result.error
    assert len(server.hits) == 3 and stats["malformed"] == 3 and stats["failed"] == 1 and stats["retries"] == 2


def test_client_errors_are_not_retried_and_auth_errors_stop_the_run(chat_server, labels_kit, image):
    Reply = labels_kit.Reply
    bad_request = chat_server(responder=lambda b, i: Reply(status=400, body=labels_kit.error_body("bad", "invalid")))
    with _backend(bad_request) as backend:
        [result] = backend.generate([LabelRequest(str(image), "q")])
    assert not result.ok and "HTTP 400" in result.error and len(bad_request.hits) == 1

    denied = chat_server(responder=lambda b, i: Reply(status=401, body=labels_kit.error_body("no key", "auth")))
    with _backend(denied) as backend, pytest.raises(BackendError, match="HTTP 401.*LABELS_TEST_KEY"):
        backend.generate([LabelRequest(str(image), "q")])


def test_runner_report_counts_over_http(chat_server, labels_kit, tmp_path):
    """Per street: one good reply; an invalid label then a good one; always invalid; always 500."""
    from PIL import Image

    Reply = labels_kit.Reply
    plan = {
        "Forbes Ave": ["good"],
        "Penn Ave": ["nodistrict", "good"],
        "Atwood St": ["nodistrict"],
        "Fifth Ave": ["500"],
    }
    seen: dict[str, int] = {}

    def responder(body, index):
        prompt = body["messages"][0]["content"][0]["text"]
        street = labels_kit.street_of(prompt)
        steps = plan[street]
        step = steps[min(seen.get(street, 0), len(steps) - 1)]
        seen[street] = seen.get(street, 0) + 1
        if step == "500":
            return Reply(status=500, body=labels_kit.error_body("down", "server_error"))
        if step == "nodistrict":
            return Reply(f"It is {street}.")
        return Reply(labels_kit.good_label(prompt))

    items = []
    for i, street in enumerate(plan):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(path)
        prompt = f"Explain: the street view was taken on {street}, in the district Downtown."
        items.append(LabelItem(f"row{i}", str(path), prompt, {"street": street, "district": "Downtown"}, "t"))
    validator = LabelValidator({"street": list(plan), "district": ["Downtown"]})
    server = chat_server(responder=responder)
    with _backend(server, max_retries=2, concurrency=3) as backend:
        settings = GenerationSettings(label_retries=2)
        outcomes, report = LabelRunner(backend, validator, settings, progress=False).run(items)

    assert [o.status for o in outcomes] == ["model", "model", "fallback", "failed"]
    counts = (report.model, report.retried, report.fallen_back, report.failed, report.done, report.attempts)
    assert counts == (2, 2, 1, 1, 3, 1 + 2 + 3)
    assert seen == {"Forbes Ave": 1, "Penn Ave": 2, "Atwood St": 3, "Fifth Ave": 3}  # 1 + max_retries for the 500s
    events = report.backend["events"]
    assert (events["server_errors"], events["failed"], events["requests"]) == (3, 1, 9)
    assert [f["id"] for f in report.failures] == ["row3"]


def test_parsers():
    assert parse_chat_completion(b'{"choices": [{"message": {"content": "hi"}}]}') == "hi"
    parts = b'{"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}'
    assert parse_chat_completion(parts) == "ab"
    for body in (b"nope", b"{}", b'{"choices": [{"message": {"content": null}}]}'):
        with pytest.raises(MalformedResponseError):
            parse_chat_completion(body)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_extra_body_is_sent_and_changes_the_cache_key(image):
    plain = OpenAIChatBackend("http://127.0.0.1:9/v1", "m")
    custom = OpenAIChatBackend("http://127.0.0.1:9/v1", "m", extra_body={"stop": ["<|end|>"]})
    assert custom.build_body(LabelRequest(str(image), "q"))["stop"] == ["<|end|>"]
    assert "stop" not in plain.build_body(LabelRequest(str(image), "q"))
    assert plain.key_fields() != custom.key_fields()


def test_close_interrupts_a_backoff(chat_server, labels_kit, image):
    import threading

    busy = labels_kit.Reply(status=503, body=labels_kit.error_body("x", "y"), headers={"Retry-After": "30"})
    server = chat_server(responder=lambda b, i: busy)
    backend = _backend(server, max_retries=3)
    results = []
    worker = threading.Thread(target=lambda: results.extend(backend.generate([LabelRequest(str(image), "q")])))
    worker.start()
    deadline = time.monotonic() + 10
    while not server.hits and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    backend.close()
    worker.join(timeout=10)
    assert time.monotonic() - started < 5  # not the 30 s Retry-After wait
    assert len(server.hits) == 1 and not results[0].ok and "cancelled" in results[0].error


def test_a_long_retry_after_stops_the_run_at_once(chat_server, labels_kit, image):
    """Retry-After: 3600 used to mean a silent wait of the 300 s cap per retry (25 minutes per request)."""
    reply = labels_kit.Reply(status=429, body=labels_kit.error_body("slow down", "x"), headers={"Retry-After": "3600"})
    server = chat_server(responder=lambda body, index: reply)
    start = time.monotonic()
    with _backend(server, max_retry_after=5) as backend:
        with pytest.raises(BackendError, match=r"asks to wait 3600 s .* more than --max-retry-wait 5 s"):
            backend.generate([LabelRequest(str(image), "Why?", max_new_tokens=8)])
    assert time.monotonic() - start < 5 and len(server.hits) == 1


@pytest.mark.parametrize("url", ["127.0.0.1:18001/v1", "ftp://host/v1", "http:///v1"])
def test_a_base_url_without_scheme_or_host_is_an_option_error(url):
    with pytest.raises(ValueError, match="needs http:// or https:// and a host"):
        OpenAIChatBackend(url, "m")


def test_the_failure_advice_is_a_command_that_works(tmp_path, labels_kit, chat_server, capsys):
    from addressvlm.labels.cli import main

    source = labels_kit.make_stage1_dataset(tmp_path, n=2, validation=0)
    failing = chat_server(responder=lambda body, index: labels_kit.Reply(status=500, body="internal error"))
    out = tmp_path / "out"
    args = ["label-alignment", str(source), "-o", str(out), "--backend", "http", "--model", "m", "--no-progress"]
    args += ["--max-retries", "0", "--concurrency", "1"]
    assert main([*args, "--base-url", failing.url]) == 1
    advice = capsys.readouterr().out
    assert "re-run the same command with --overwrite to retry only those" in advice
    healthy = chat_server(
        responder=lambda body, index: labels_kit.Reply(
            labels_kit.good_label(body["messages"][0]["content"][0]["text"])
        )
    )
    assert main([*args, "--base-url", healthy.url, "--overwrite"]) == 0
    assert len(healthy.hits) == 2  # the failed items were asked again
