"""Labelling through an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, LM Studio, hosted APIs).

Each request is ``POST {base_url}/chat/completions`` with one user message whose content is a text part and an
``image_url`` part holding the image as a base64 ``data:`` URL. The ``openai`` SDK (the ``[labels]`` extra) does the
HTTP: `openai.AsyncOpenAI` with ``concurrency`` requests in flight (an `asyncio.Semaphore`). Retries:

- HTTP 408, 409, 429, 5xx, timeouts and connection errors: the SDK retries with exponential backoff and jitter
  (0.5 s doubling to 8 s) and honours ``Retry-After``; a server asking to wait longer than ``max_retry_after``
  (``--max-retry-wait``) stops the run like a 401 (the SDK never waits more than 120 s);
- a 2xx body that is not a chat completion: retried here, with the same backoff and the same retry budget;
- other HTTP 4xx: the request fails at once (401, 403 and 404 stop the whole run: no retry can fix them).

A request that still fails after ``max_retries`` retries is returned as a failed result and counted. Every HTTP
attempt is counted in `stats` by a wrapper around the SDK's transport. The API key is read from an environment
variable and is never logged or recorded.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import importlib.util
import io
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from addressvlm.labels.backends.base import BackendError, LabelBackend, LabelRequest, LabelResult, ResultCallback


__all__ = [
    "MalformedResponseError",
    "OpenAIChatBackend",
    "image_data_url",
    "parse_chat_completion",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)
_FATAL_STATUS = {401: "authentication failed", 403: "access denied", 404: "endpoint or model not found"}


class MalformedResponseError(ValueError):
    """The server answered 2xx with a body that is not a chat completion."""


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


def image_data_url(path: str | os.PathLike) -> str:
    """Encode an image file as a base64 ``data:`` URL.

    PNG, JPEG, GIF and WebP files are sent as they are; any other format Pillow can read is re-encoded as PNG.

    Args:
        path (`str` or `os.PathLike`):
            The image file.

    Returns:
        `str`: ``data:image/<type>;base64,<payload>``.

    Raises:
        `FileNotFoundError`: if the file does not exist.
        `ValueError`: if the file is not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    data = Path(path).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if kind not in ("PNG", "JPEG", "GIF", "WEBP"):
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="PNG")
                data, kind = buffer.getvalue(), "PNG"
    except UnidentifiedImageError as err:
        raise ValueError(f"{path}: not a readable image") from err
    return f"data:{Image.MIME[kind]};base64,{base64.b64encode(data).decode('ascii')}"


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


def _counting_transport(backend: OpenAIChatBackend):
    """An `httpx2.AsyncHTTPTransport` counting every attempt the SDK makes in ``backend.stats`` (the SDK retries
    inside it), and marking a 429 whose ``Retry-After`` exceeds ``backend.max_retry_after`` as not to be retried."""
    import httpx2

    stats, max_retry_after = backend.stats, backend.max_retry_after

    class CountingTransport(httpx2.AsyncHTTPTransport):
        async def handle_async_request(self, request):
            stats["requests"] += 1
            if request.headers.get("x-stainless-retry-count", "0") != "0":
                stats["retries"] += 1
            try:
                response = await super().handle_async_request(request)
            except httpx2.TimeoutException:
                stats["timeouts"] += 1
                raise
            except httpx2.TransportError:
                stats["connection_errors"] += 1
                raise
            status = response.status_code
            if status == 429:
                stats["rate_limited"] += 1
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > max_retry_after:
                    response.headers["x-should-retry"] = "false"  # the SDK raises at once; the backend stops
            elif status >= 500 or status in (408, 409):
                stats["server_errors"] += 1
            return response

    return CountingTransport()


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
            Per-request timeout in seconds (connect and each read).
        max_retries (`int`, *optional*, defaults to 5):
            Retries per request after the first try.
        max_retry_after (`float`, *optional*, defaults to 60.0):
            Longest server-requested ``Retry-After`` wait. A server asking for more stops the labelling with a
            [`BackendError`] (finished labels are cached) instead of stalling every request.
        extra_body (`Mapping[str, Any]`, *optional*):
            Extra JSON fields merged into every request body (e.g. ``{"stop": ["<|end|>"]}``).
        batch_size (`int`, *optional*):
            Requests handed over per `generate` call by the runner; defaults to ``4 * concurrency``.
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
        max_retry_after: float = 60.0,
        extra_body: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ):
        parsed = urllib.parse.urlparse(base_url or "")
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
        if importlib.util.find_spec("openai") is None:
            raise ImportError("the HTTP backend needs the openai SDK: pip install 'addressvlm[labels]'")
        super().__init__(model, batch_size=batch_size or 4 * concurrency)
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.extra_body = dict(extra_body or {})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        if not os.environ.get(api_key_env):
            logger.info("no API key in $%s: requests carry no Authorization header", api_key_env)

    def describe(self) -> dict[str, object]:
        shown = ("url", "api_key_env", "concurrency", "timeout", "max_retries")
        return {**super().describe(), **{name: getattr(self, name) for name in shown}}

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

    def _client(self):
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(self.api_key_env) or "unused",  # without a key, each request omits the header
            max_retries=self.max_retries,
            timeout=self.timeout,
            http_client=openai.DefaultAsyncHttpxClient(transport=_counting_transport(self)),
        )

    async def _request(self, client, request: LabelRequest) -> LabelResult:
        """One request: the SDK's retries, plus retries of malformed bodies from the same budget."""
        import openai

        try:
            body = await asyncio.to_thread(self.build_body, request)
        except (OSError, ValueError) as err:
            self.stats["failed"] += 1
            return LabelResult(None, f"cannot read image {request.image}: {err}")
        fields = {"model": body.pop("model"), "messages": body.pop("messages"), "extra_body": body}
        if not os.environ.get(self.api_key_env):
            fields["extra_headers"] = {"Authorization": openai.omit}
        retries_left = self.max_retries
        while True:
            try:
                create = client.with_options(max_retries=retries_left).chat.completions.with_raw_response.create
                response = await create(**fields)
            except openai.APIStatusError as err:
                status = err.status_code
                wait = parse_retry_after(err.response.headers.get("Retry-After")) if status == 429 else None
                if wait is not None and wait > self.max_retry_after:
                    raise BackendError(
                        f"{self.url}: the server asks to wait {wait:g} s before retrying (HTTP 429 Retry-After), "
                        f"more than --max-retry-wait {self.max_retry_after:g} s; re-run later, or raise "
                        "--max-retry-wait"
                    ) from None
                if status in _FATAL_STATUS:
                    raise BackendError(
                        f"{self.url}: HTTP {status} ({_FATAL_STATUS[status]}); check --base-url, --model and "
                        f"${self.api_key_env}"
                    ) from None
                if status < 500 and status not in (408, 409, 429):
                    self.stats["client_errors"] += 1
                error = f"HTTP {status}: {err.response.text[:200]}"
                break
            except openai.APITimeoutError:
                error = f"timeouts: timed out after {self.timeout:g} s"
                break
            except openai.APIConnectionError as err:
                error = f"connection_errors: connection failed: {err.__cause__ or err}"
                break
            retries_left -= response.retries_taken
            try:
                text = parse_chat_completion(response.content)
            except MalformedResponseError as err:
                self.stats["malformed"] += 1
                error = f"malformed: {err}"
                if retries_left == 0:
                    break
                self.stats["retries"] += 1
                await asyncio.sleep(min(8.0, 0.5 * 2 ** (self.max_retries - retries_left)))
                retries_left -= 1
                continue
            self.stats["succeeded"] += 1
            return LabelResult(text)
        self.stats["failed"] += 1
        logger.warning("%s: request failed: %s", request.tag or request.image, error)
        return LabelResult(None, error)

    async def _generate(self, requests: Sequence[LabelRequest], callback: ResultCallback | None) -> list[LabelResult]:
        semaphore = asyncio.Semaphore(self.concurrency)
        results: list[LabelResult | None] = [None] * len(requests)

        async def one(index: int, request: LabelRequest) -> tuple[int, LabelResult]:
            try:
                async with semaphore:
                    return index, await self._request(client, request)
            except asyncio.CancelledError:
                if not self._closing:  # a fatal error, Ctrl-C or the callback failed: the batch stops
                    raise
                self.stats["failed"] += 1
                return index, LabelResult(None, "cancelled: the backend was closed")

        async with self._client() as client:
            self._tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(requests)]
            self._loop = asyncio.get_running_loop()
            try:
                for next_done in asyncio.as_completed(self._tasks):
                    index, results[index] = await next_done
                    if callback is not None:
                        callback(index, results[index])
            except BaseException:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                raise
            finally:
                self._loop, self._tasks = None, []
        return results  # type: ignore[return-value]

    def generate(self, requests: Sequence[LabelRequest], callback: ResultCallback | None = None) -> list[LabelResult]:
        self._closing = False
        return asyncio.run(self._generate(list(requests), callback))

    def _cancel(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()

    def close(self) -> None:
        """Stop (callable from another thread): requests in flight, backoffs included, end as cancelled results."""
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._cancel)
            except RuntimeError:  # the batch ended meanwhile
                pass
