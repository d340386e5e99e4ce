"""Load the demo's model once, in the background, and let every page show how far loading has come."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from .answerer import AddressAnswerer


__all__ = ["ModelLoader"]

logger = logging.getLogger(__name__)


class ModelLoader:
    r"""
    Loads an [`AddressAnswerer`] once, in a thread, recording progress for any number of waiting pages.

    Args:
        model (`str` or `os.PathLike`, *optional*):
            Checkpoint folder, adapter folder or Hub id (see `AddressAnswerer.from_pretrained`).
        adapter (`str`, *optional*):
            Adapter folder to apply on top of ``model``.
        answerer (`AddressAnswerer`, *optional*):
            An already loaded answerer instead of ``model`` (tests, notebooks).
        **kwargs:
            Passed to `AddressAnswerer.from_pretrained` (``device``, ``dtype``, ``max_new_tokens``).
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        adapter: str | os.PathLike | None = None,
        answerer: AddressAnswerer | None = None,
        **kwargs,
    ):
        if model is None and answerer is None:
            raise ValueError("ModelLoader needs a model path or a loaded answerer")
        self.model = model
        self.adapter = adapter
        self.kwargs = kwargs
        self.answerer = answerer
        self.error: BaseException | None = None
        self.fraction, self.stage = (1.0, "model ready") if answerer is not None else (0.0, "waiting to load")
        self.seconds: float | None = 0.0 if answerer is not None else None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if answerer is not None:
            self._done.set()

    @property
    def name(self) -> str:
        """The model's name for titles."""
        if self.answerer is not None:
            return self.answerer.name
        return os.path.basename(os.path.normpath(str(self.adapter or self.model)))

    def _report(self, fraction: float, stage: str) -> None:
        self.fraction, self.stage = fraction, stage
        logger.info("demo: %3.0f%% %s", 100 * fraction, stage)

    def _load(self) -> None:
        began = time.perf_counter()
        try:
            answerer = AddressAnswerer.from_pretrained(
                self.model, self.adapter, progress=lambda fraction, stage: self._report(0.9 * fraction, stage),
                **self.kwargs,
            )  # fmt: skip
            self._report(0.95, "warming up (one answer)")
            answerer.warm_up()
            self.answerer = answerer
            self.seconds = time.perf_counter() - began
            self._report(1.0, "model ready")
        except BaseException as err:  # noqa: BLE001 (reported on every page and by wait())
            self.error = err
            self.stage = f"loading failed: {err}"
            logger.error("demo: loading %s failed: %s", self.model, err)
        finally:
            self._done.set()

    def start(self) -> ModelLoader:
        """Start loading in a background thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is None and not self._done.is_set():
                self._thread = threading.Thread(target=self._load, name="addressvlm-demo-loader", daemon=True)
                self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> AddressAnswerer:
        """The loaded answerer, starting and waiting for the load if needed.

        Raises:
            The loading error, or `TimeoutError`.
        """
        self.start()
        if not self._done.wait(timeout):
            raise TimeoutError(f"the model is still loading ({self.stage})")
        if self.error is not None:
            raise self.error
        return self.answerer

    def follow(self, progress: Callable[[float, str], None], poll: float = 0.1) -> None:
        """Call ``progress(fraction, stage)`` as loading goes on, until it ends (for a page's progress bar)."""
        self.start()
        while not self._done.wait(poll):
            progress(self.fraction, self.stage)
        progress(self.fraction, self.stage)
