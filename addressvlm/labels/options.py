"""The options of a labelling run, one documented dataclass per concern: the labelling model (`BackendOptions`),
generation and retries (`GenerationSettings`), template files (`TemplateFiles`) and the run itself
(`LabelRunOptions`). ``addressvlm data label-alignment`` / ``label-georeasoner`` are made from them (one argument
group each, `addressvlm.utils.options`), so each option's type, default and help are written here once.

A light module: the backends, torch and datasets load only when a run starts.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from addressvlm.utils.options import option


__all__ = ["BackendOptions", "GenerationSettings", "LabelRunOptions", "TemplateFiles"]


@dataclass(kw_only=True)
class BackendOptions:
    """The labelling model: a local checkpoint or an OpenAI-compatible server.

    Args:
        backend (`str`, *optional*, defaults to ``"local"``): ``local`` (a checkpoint loaded by `addressvlm.models`) or
            ``http`` (an OpenAI-compatible server).
        model (`str`, *optional*): Model path or Hub id (local), or the request's model name (http); required unless
            ``fallback_only``.
        adapter (`str`, *optional*): local: a PEFT adapter applied on top of ``model``.
        dtype (`str`, *optional*): local: weight dtype, e.g. ``bfloat16`` (default: the loader's choice).
        batch_size (`int`, *optional*): local: images per forward pass (default 8); http: requests per round (default 4
            x ``concurrency``).
        device (`str`, *optional*): local: where to run, e.g. ``cuda:0`` (default: cuda when available, else cpu).
        base_url (`str`, *optional*): http: API root, e.g. ``http://127.0.0.1:8000/v1`` (required with
            ``backend="http"``).
        api_key_env (`str`, *optional*, defaults to ``"OPENAI_API_KEY"``): http: environment variable holding the API
            key (never logged); unset = no key.
        concurrency (`int`, *optional*, defaults to 8): http: requests in flight at once.
        timeout (`float`, *optional*, defaults to 120.0): http: per-request socket timeout in seconds.
        max_retries (`int`, *optional*, defaults to 5): http: retries of a failed request, with exponential backoff and
            jitter.
        max_retry_wait (`float`, *optional*, defaults to 60.0): http: longest wait a 429 response's ``Retry-After`` may
            ask for; a longer one stops the run.
        extra_body (`str` or `dict`, *optional*): http: a JSON object (or its text) merged into every request body.
        fallback_only (`bool`, *optional*, defaults to `False`): Use no model: every row gets the templated reason
            (``label_source`` ``template``).
    """

    _argument_group_name = "labelling model"

    backend: str = option("local", choices=["local", "http"])
    model: str | None = option(None)
    adapter: str | None = option(None)
    dtype: str | None = option(None)
    batch_size: int | None = option(None)
    device: str | None = option(None)
    base_url: str | None = option(None)
    api_key_env: str = option("OPENAI_API_KEY")
    concurrency: int = option(8)
    timeout: float = option(120.0)
    max_retries: int = option(5)
    max_retry_wait: float = option(60.0)
    extra_body: str | None = option(None)
    fallback_only: bool = option(False)

    def build(self):
        """The backend these options ask for, or `None` with ``fallback_only``.

        Returns:
            [`~addressvlm.labels.backends.LabelBackend`] or `None`.

        Raises:
            `ValueError`: when a required option (``model``, ``base_url``) is missing or ``extra_body`` is not a
            JSON object.
        """
        if self.fallback_only:
            return None
        if not self.model:
            raise ValueError("--model is required unless --fallback-only is given")
        if self.backend == "local":
            from addressvlm.labels.backends import LocalBackend

            batch_size = self.batch_size or 8
            return LocalBackend(self.model, self.adapter, self.dtype, batch_size=batch_size, device=self.device)
        from addressvlm.labels.backends import OpenAIChatBackend

        if not self.base_url:
            raise ValueError("--backend http needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        return OpenAIChatBackend(
            self.base_url,
            self.model,
            api_key_env=self.api_key_env,
            concurrency=self.concurrency,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_retry_after=self.max_retry_wait,
            batch_size=self.batch_size,
            extra_body=_json_object(self.extra_body),
        )


def _json_object(value: str | dict | None) -> dict | None:
    if not isinstance(value, str):
        return value
    try:
        value = json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(f"--extra-body is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--extra-body must be a JSON object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class GenerationSettings:
    """Generation and retry settings of a labelling run.

    Args:
        max_new_tokens (`int`, *optional*, defaults to 160): length limit of one label.
        temperature (`float`, *optional*, defaults to 0.0): temperature of the first attempt (0 = greedy).
        top_p (`float`, *optional*): nucleus sampling threshold; `None` keeps the backend default.
        seed (`int`, *optional*, defaults to 0): seed of the first attempt; attempt ``k`` uses ``seed + k``.
        label_retries (`int`, *optional*, defaults to 2): extra attempts for labels that fail validation.
        retry_temperature (`float`, *optional*, defaults to 0.7): minimum temperature of the extra attempts.
    """

    _argument_group_name = "generation and validation"

    max_new_tokens: int = option(160)
    temperature: float = option(0.0)
    top_p: float | None = option(None)
    seed: int = option(0)
    label_retries: int = option(2)
    retry_temperature: float = option(0.7)

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.label_retries < 0 or self.temperature < 0 or self.retry_temperature < 0:
            raise ValueError(f"invalid generation settings: {self}")

    @property
    def max_attempts(self) -> int:
        """`int`: attempts per item, ``1 + label_retries``."""
        return 1 + self.label_retries

    def for_attempt(self, attempt: int) -> tuple[float, int]:
        """Return ``(temperature, seed)`` of attempt number `attempt` (0-based)."""
        if attempt == 0:
            return self.temperature, self.seed
        return max(self.temperature, self.retry_temperature), self.seed + attempt

    def key_fields(self) -> dict[str, Any]:
        """`dict`: the settings that change the generated text, all but `label_retries` (they go into cache keys)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "label_retries"}


@dataclass(kw_only=True)
class TemplateFiles:
    """User template files replacing the packaged ones (`addressvlm/labels/prompts/`); `None` keeps a default.

    Args:
        prompt_file (`str`, *optional*): labelling prompt with the reference hint (``{street}`` ``{district}`` ...).
        question_file (`str`, *optional*): training question without the hint (``{city}``); it replaces the rows'
            own questions.
        fallback_file (`str`, *optional*): templated reason used when no model label passes validation.
        target_file (`str`, *optional*): training target built from ``{answer}`` and ``{reason}``.
    """

    _argument_group_name = "templates (defaults: addressvlm/labels/prompts/)"

    prompt_file: str | None = option(None)
    question_file: str | None = option(None)
    fallback_file: str | None = option(None)
    target_file: str | None = option(None)

    def load(self, task: str):
        """The task's [`~addressvlm.labels.templates.TaskTemplates`], with these files in place of the defaults."""
        from addressvlm.labels.templates import load_task_templates

        files = {"prompt": self.prompt_file, "question": self.question_file}
        return load_task_templates(task, **files, fallback=self.fallback_file, target=self.target_file)


@dataclass(kw_only=True)
class LabelRunOptions:
    """Options of [`~addressvlm.labels.pipeline.label_dataset`]: what to label, where results go.

    Args:
        cache (`str`, *optional*): The JSONL cache of results; defaults to ``<output>.labels.jsonl``
            (`default_cache_path`). Re-runs resume it. Unused without a backend.
        image_key (`str`, *optional*, defaults to ``"content"``): Identify images in cache keys by content hash
            (``content``) or by path + mtime + size (``stat``).
        limit (`int`, *optional*): Label (and write) only the first ``limit`` rows, over the splits in order.
        splits (`str` or `list[str]`, *optional*): Splits to label (comma-separated or a list); defaults to every split
            (alignment) or ``train`` (georeasoner).
        city (`str`, *optional*): City name for ``{city}``; defaults to the row's ``city``, then
            ``build_info["city"]``, then ``"the city"``.
        report (`str`, *optional*): Where to write the JSON report; defaults to ``<output>/label_report.json``.
        overwrite (`bool`, *optional*, defaults to `False`): Replace an existing, non-empty output folder.
    """

    _argument_group_name = "run"

    cache: str | None = option(None)
    image_key: str = option("content", choices=["content", "stat"])
    limit: int | None = option(None)
    splits: str | None = option(None)
    city: str | None = option(None)
    report: str | None = option(None)
    overwrite: bool = option(False)
