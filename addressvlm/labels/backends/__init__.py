"""Labelling backends: one batched interface, a local model or an OpenAI-compatible HTTP endpoint."""

from addressvlm.labels.backends.base import (
    BackendError,
    LabelBackend,
    LabelRequest,
    LabelResult,
    ResultCallback,
)
from addressvlm.labels.backends.local import LocalBackend
from addressvlm.labels.backends.openai_chat import (
    MalformedResponseError,
    OpenAIChatBackend,
    image_data_url,
    parse_chat_completion,
    parse_retry_after,
)


__all__ = [
    "BackendError",
    "LabelBackend",
    "LabelRequest",
    "LabelResult",
    "LocalBackend",
    "MalformedResponseError",
    "OpenAIChatBackend",
    "ResultCallback",
    "image_data_url",
    "parse_chat_completion",
    "parse_retry_after",
]
