"""Labelling through an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, LM Studio, hosted APIs).

Each request is ``POST {base_url}/chat/completions`` with one user message whose content is a text part and an
``image_url`` part holding the image as a base64 ``data:`` URL. Requests run in a thread pool (``concurrency``
at a time). Failures are retried with exponential backoff and jitter:

- HTTP 429: wait for ``Retry-After`` (seconds or an HTTP date), else back off; a server asking to wait longer than
  ``max_retry_after`` (``--max-retry-wait``) stops the run like a 401 (waits of 10 s or more are logged);
- HTTP 5xx, 408, timeouts, connection errors and malformed bodies: back off and retry;
- other HTTP 4xx: the request fails at once (401, 403 and 404 stop the whole run: no retry can fix them).

A request that still fails after ``max_retries`` retries is returned as a failed result and counted.
The API key is read from an environment variable and is never logged or recorded.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from addressvlm.labels.backends.base import BackendError, LabelBackend, LabelRequest, LabelResult, ResultCallback
from addressvlm.labels.backends.images import image_data_url


__all__ = ["MalformedResponseError", "OpenAIChatBackend", "parse_chat_completion", "parse_retry_after"]

logger = logging.getLogger(__name__)
_FATAL_STATUS = {401: "authentication failed", 403: "access denied", 404: "endpoint or model not found"}


class MalformedResponseError(ValueError):
    """The server answered 2xx with a body that is not a chat completion."""


class _Failed(Exception):
    """A non-retryable per-request failure (HTTP 4xx other than 401/403/404/408/429)."""


class _Retryable(Exception):
    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.kind = kind
        self.retry_after = retry_after


def parse_chat_completion(body: bytes) -> str:
    """Extract the assistant text from a chat-completions response body.

    Args:
        body (`bytes`):
            The raw response body.

    Returns:
        `str`: ``choices[0].message.content`` (text parts joined when the content is a list of parts).

    Raises:
        [`MalformedResponseError`]: if the body is not JSON or lacks the fields.
    """
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedResponseError(f"response is not JSON ({err})") from None
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponseError("response has no choices[0].message.content") from None
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if len(parts) != len(content):
            raise MalformedResponseError("response content parts are not all text parts")
        content = "".join(parts)
    if not isinstance(content, str):
        raise MalformedResponseError(f"response content is {type(content).__name__}, not text")
    return content


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header.

    Args:
        value (`str`, *optional*):
            The header value: delay in seconds or an HTTP date.
        now (`float`, *optional*):
            Current Unix time (for tests); defaults to `time.time()`.

    Returns:
        `float` or `None`: seconds to wait (>= 0), `None` if absent or unparsable.
    """
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class OpenAIChatBackend(LabelBackend):
    """Labelling backend for an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url (`str`):
            API root, e.g. ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is appended).
        model (`str`):
            The ``model`` field of each request.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`):
            Environment variable holding the API key; when unset, no ``Authorization`` header is sent (local
            servers usually need none).
        concurrency (`int`, *optional*, defaults to 8):
            Requests in flight at once.
        timeout (`float`, *optional*, defaults to 120.0):
            Per-request socket timeout in seconds (connect and each read).
        max_retries (`int`, *optional*, defaults to 5):
            Retries per request after the first try.
        backoff_base (`float`, *optional*, defaults to 1.0):
            First backoff delay in seconds; doubles per retry, with "equal jitter" (half fixed, half random).
        backoff_max (`float`, *optional*, defaults to 60.0):
            Cap of one backoff delay.
        max_retry_after (`float`, *optional*, defaults to 60.0):
            Longest server-requested ``Retry-After`` wait. A server asking for more stops the labelling with a
            [`BackendError`] (finished labels are cached) instead of stalling every request.
        extra_body (`Mapping[str, Any]`, *optional*):
            Extra JSON fields merged into every request body (e.g. ``{"stop": ["<|end|>"]}``).
        batch_size (`int`, *optional*):
            Requests handed over per `generate` call by the runner; defaults to ``4 * concurrency``.
        seed (`int`, *optional*):
            Seed of the jitter generator (tests).
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_retry_after: float = 60.0,
        extra_body: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
    ):
        if not base_url:
            raise ValueError("the HTTP backend needs a base URL (e.g. http://127.0.0.1:8000/v1)")
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"base URL {base_url!r} needs http:// or https:// and a host, e.g. http://127.0.0.1:8000/v1"
            )
        if max_retry_after < 0:
            raise ValueError(f"max_retry_after must be >= 0, got {max_retry_after}")
        if not model:
            raise ValueError("the HTTP backend needs a model name (the 'model' field of each request)")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0 or timeout <= 0:
            raise ValueError(f"need max_retries >= 0 and timeout > 0, got {max_retries} and {timeout}")
        super().__init__(model, batch_size=batch_size or 4 * concurrency)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.extra_body = dict(extra_body or {})
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closing = threading.Event()
        if not os.environ.get(api_key_env):
            logger.info("no API key in $%s: requests carry no Authorization header", api_key_env)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "url": self.url,
            "api_key_env": self.api_key_env,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
        }

    def key_fields(self) -> dict[str, object]:
        return {"extra_body": self.extra_body} if self.extra_body else {}

    def build_body(self, request: LabelRequest) -> dict[str, Any]:
        """Build the JSON body of one request.

        Args:
            request ([`LabelRequest`]): the request.

        Returns:
            `dict`: ``model``, ``messages`` (text part, then the image as a data URL), ``max_tokens``,
            ``temperature`` and, when set, ``top_p`` and ``seed``, plus `extra_body`.
        """
        content = [
            {"type": "text", "text": request.prompt},
            {"type": "image_url", "image_url": {"url": image_data_url(request.image)}},
        ]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
        }
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(self.extra_body)
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, data: bytes) -> str:
        """One HTTP exchange; returns the text or raises `_Retryable`, `BackendError` or `_Failed`."""
        self.stats.add("requests")
        request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            status = err.code
            try:
                detail = err.read(300).decode("utf-8", "replace") if err.fp else ""
            except (OSError, http.client.HTTPException):
                detail = ""
            err.close()
            if status == 429:
                retry_after = parse_retry_after(err.headers.get("Retry-After") if err.headers else None)
                raise _Retryable("rate_limited", "HTTP 429 Too Many Requests", retry_after) from None
            if status >= 500 or status == 408:
                raise _Retryable("server_errors", f"HTTP {status}: {detail[:200]}") from None
            if status in _FATAL_STATUS:
                raise BackendError(
                    f"{self.url}: HTTP {status} ({_FATAL_STATUS[status]}); check --base-url, --model and "
                    f"${self.api_key_env}"
                ) from None
            raise _Failed(f"HTTP {status}: {detail[:200]}") from None
        except TimeoutError as err:
            raise _Retryable("timeouts", f"timed out after {self.timeout:g} s ({err})") from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise _Retryable("timeouts", f"timed out after {self.timeout:g} s") from None
            raise _Retryable("connection_errors", f"connection failed: {err.reason}") from None
        except (ConnectionError, http.client.HTTPException) as err:
            raise _Retryable("connection_errors", f"connection failed: {err!r}") from None
        try:
            return parse_chat_completion(body)
        except MalformedResponseError as err:
            raise _Retryable("malformed", str(err)) from None

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        delay = min(self.backoff_max, self.backoff_base * 2**retry)
        with self._rng_lock:
            return delay / 2 + self._rng.uniform(0, delay / 2)

    def request(self, request: LabelRequest) -> LabelResult:
        """Run one request with retries (blocking).

        Args:
            request ([`LabelRequest`]): the request.

        Returns:
            [`LabelResult`]: the text, or the last error after all retries.

        Raises:
            [`BackendError`]: on HTTP 401, 403 or 404.
        """
        try:
            data = json.dumps(self.build_body(request)).encode("utf-8")
        except (OSError, ValueError) as err:
            self.stats.add("failed")
            return LabelResult(None, f"cannot read image {request.image}: {err}")
        error = ""
        for retry in range(self.max_retries + 1):
            if self._closing.is_set():
                error = "cancelled: the backend was closed"
                break
            try:
                text = self._post_once(data)
            except _Retryable as err:
                self.stats.add(err.kind)
                error = f"{err.kind}: {err}"
                if retry == self.max_retries:
                    break
                if err.retry_after is not None and err.retry_after > self.max_retry_after:
                    raise BackendError(
                        f"{self.url}: the server asks to wait {err.retry_after:g} s before retrying (HTTP 429 "
                        f"Retry-After), more than --max-retry-wait {self.max_retry_after:g} s; re-run later, or "
                        "raise --max-retry-wait"
                    ) from None
                delay = self._backoff(retry, err.retry_after)
                self.stats.add("retries")
                log = logger.warning if delay >= 10 else logger.debug
                log("%s: %s; retry %d in %.2f s", request.tag or request.image, error, retry + 1, delay)
                self._closing.wait(delay)  # returns early when the backend is closed
                continue
            except _Failed as err:
                self.stats.add("client_errors")
                error = str(err)
                break
            self.stats.add("succeeded")
            return LabelResult(text)
        self.stats.add("failed")
        logger.warning("%s: request failed: %s", request.tag or request.image, error)
        return LabelResult(None, error)

    def generate(self, requests: Sequence[LabelRequest], callback: ResultCallback | None = None) -> list[LabelResult]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="label-http")
        self._closing.clear()
        futures = {self._executor.submit(self.request, r): i for i, r in enumerate(requests)}
        results: list[LabelResult | None] = [None] * len(requests)
        try:
            for future in as_completed(futures):
                index = futures[future]
                results[index] = future.result()
                if callback is not None:
                    callback(index, results[index])
        except BaseException:  # a fatal HTTP status, Ctrl-C, or the caller's callback failed: stop the batch
            self._closing.set()  # requests in flight give up instead of retrying
            for future in futures:
                future.cancel()
            raise
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop: queued requests are cancelled, running ones end after their current HTTP exchange."""
        if self._executor is not None:
            self._closing.set()
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            self._closing.clear()
