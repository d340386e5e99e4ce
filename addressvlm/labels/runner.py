"""The labelling loop: batched generation, validation, retries, fallback, caching, progress and the run report.

For every item the runner asks the backend for a label (attempt 0: the configured temperature and seed), validates
it and, while it is invalid, asks again with sampling at ``retry_temperature`` and seed ``seed + attempt``, up to
``label_retries`` more times; then it falls back to the item's templated reason. Every attempt and every final
decision is appended to the [`~addressvlm.labels.cache.LabelCache`] as soon as the backend returns it, so an
interrupted run resumes where it stopped: finished items are skipped and unfinished ones continue after their last
recorded attempt. Items the backend could not serve at all (after its own transport retries) are reported as
failed, get the templated reason in this run's output and are retried by the next run.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from addressvlm.labels.backends.base import LabelBackend, LabelRequest, LabelResult
from addressvlm.labels.cache import LabelCache, image_fingerprint, item_key
from addressvlm.labels.options import GenerationSettings
from addressvlm.labels.validation import LabelValidator, clean_label_text


__all__ = ["GenerationSettings", "LabelItem", "LabelOutcome", "LabelReport", "LabelRunner"]

logger = logging.getLogger(__name__)
_MAX_LISTED_FAILURES = 20


@dataclass(frozen=True)
class LabelItem:
    """One image to label.

    Args:
        id (`str`): row id (used in messages and the cache).
        image (`str`): absolute path of the image shown to the labelling model.
        prompt (`str`): the rendered labelling prompt, with the reference hint.
        reference (`Mapping[str, str]`): reference names per kind, e.g. ``{"street": ..., "district": ...}``.
        fallback (`str`): the templated reason used when no model label is accepted.
        city (`str`, *optional*, defaults to `""`): selects the validator when the runner has one per city.
    """

    id: str
    image: str
    prompt: str
    reference: Mapping[str, str]
    fallback: str
    city: str = ""


@dataclass(frozen=True)
class LabelOutcome:
    """The final label of one item.

    Args:
        id (`str`): row id.
        reason (`str`): the accepted model label or the templated reason.
        label_source (`str`): ``model`` or ``template``.
        status (`str`): ``model``, ``fallback`` (validation failed every attempt), ``template_only`` (no model) or
            ``failed`` (the backend returned nothing; templated reason, retried by the next run).
        attempts (`int`, *optional*, defaults to 0): model attempts made for the item (over all runs).
        from_cache (`bool`, *optional*, defaults to `False`): finished by an earlier run.
        error (`str`, *optional*): the backend error of a failed item.
        problems (`tuple[str, ...]`, *optional*, defaults to `()`): validation problems of the last attempt.
    """

    id: str
    reason: str
    label_source: str
    status: str
    attempts: int = 0
    from_cache: bool = False
    error: str | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class LabelReport:
    """Counts of a labelling run. Every item ends in exactly one of `model`, `fallen_back`, `template_only`,
    `failed`, so ``model + fallen_back + template_only + failed == total``.

    Args:
        total (`int`): items in the run.
        done (`int`): items with a final label (model or template), including those finished by earlier runs.
        from_cache (`int`): items already finished in the cache; they were not recomputed.
        model (`int`): items labelled by the model (``label_source="model"``).
        retried (`int`): items that needed more than one model attempt to pass validation or to fall back.
        fallen_back (`int`): items whose every attempt failed validation; a templated reason was used.
        template_only (`int`): items given the templated reason without a model (``--fallback-only``).
        failed (`int`): items the backend returned no text for after its retries. They get the templated reason in
            the output but are not cached as finished, so the next run retries them.
        attempts (`int`): model generations made by this run.
        reused_attempts (`int`): attempts found in the cache from an interrupted run and not recomputed.
        problems (`dict[str, int]`): validation problem codes over this run's attempts.
        failures (`list[dict]`): the first 20 failed items (``id``, ``error``).
        backend (`dict`): backend identity and event counters (requests, retries, rate_limited, timeouts, ...).
        cache (`dict`): cache path and repair counters (torn_lines, corrupt_lines, duplicate_finals).
        skipped (`dict[str, int]`): dataset rows not labelled, by reason (``general_vqa_rows`` are written
            unchanged in alignment sets and left out of GeoReasoner sets; ``duplicate_images`` are left out).
        elapsed_s (`float`): wall time of the run in seconds.
    """

    total: int = 0
    done: int = 0
    from_cache: int = 0
    model: int = 0
    retried: int = 0
    fallen_back: int = 0
    template_only: int = 0
    failed: int = 0
    attempts: int = 0
    reused_attempts: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    backend: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """`str`: a one-paragraph human-readable summary."""
        computed = self.total - self.from_cache
        rate = f" ({computed / self.elapsed_s:.2f} items/s)" if self.elapsed_s > 0 and computed else ""
        lines = [
            f"labelled {self.done}/{self.total} items in {self.elapsed_s:.1f} s{rate}: "
            f"model {self.model}, fallen back {self.fallen_back}, template only {self.template_only}, "
            f"failed {self.failed}",
            f"retried {self.retried}; {self.from_cache} finished earlier (from cache); "
            f"{self.attempts} generations this run, {self.reused_attempts} reused",
        ]
        for title, counts in (
            ("rows not labelled", self.skipped),
            ("validation problems", dict(sorted(self.problems.items()))),
            ("backend", self.backend.get("events", {})),
            ("cache repairs", {k: v for k, v in self.cache.items() if k != "path"}),
        ):
            if shown := ", ".join(f"{k} {v}" for k, v in counts.items() if v):
                lines.append(f"{title}: {shown}")
        if self.failed:
            lines.append(
                f"{self.failed} items failed; re-run the same command with --overwrite to retry only those "
                "(finished labels come from the cache)"
            )
        return "\n".join(lines)


@dataclass
class LabelRunner:
    """Label items with a backend, validating, retrying, falling back and caching.

    Args:
        backend ([`LabelBackend`], *optional*):
            The labelling model; `None` writes templated reasons only (``--fallback-only``).
        validator ([`LabelValidator`] or `Mapping[str, LabelValidator]`):
            Decides whether a label is usable; a mapping selects the validator by [`LabelItem.city`] (each city
            has its own list of competing street names).
        settings ([`GenerationSettings`], *optional*):
            Generation and retry settings; defaults to `GenerationSettings()`.
        cache ([`LabelCache`], *optional*):
            An **open** cache; `None` keeps results in memory only (no resume).
        image_key_mode (`str`, *optional*, defaults to `"content"`):
            How images are identified in cache keys (see [`~addressvlm.labels.cache.image_fingerprint`]).
        progress (`bool`, *optional*, defaults to `True`):
            Show tqdm progress bars (rate and ETA).
    """

    backend: LabelBackend | None
    validator: LabelValidator | Mapping[str, LabelValidator]
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    cache: LabelCache | None = None
    image_key_mode: str = "content"
    progress: bool = True

    def item_keys(self, items: Sequence[LabelItem]) -> list[str]:
        """Compute the cache key of every item.

        Args:
            items (`Sequence[LabelItem]`): the items.

        Returns:
            `list[str]`: one key per item.

        Raises:
            `FileNotFoundError`: naming the row and path of the first missing image.
        """
        fingerprints: dict[str, str] = {}
        settings = {**self.settings.key_fields(), **self.backend.key_fields()}
        keys = []
        for item in tqdm(items, desc="hashing images", unit="img", disable=not self.progress, leave=False):
            if item.image not in fingerprints:
                try:
                    fingerprints[item.image] = image_fingerprint(item.image, self.image_key_mode)
                except FileNotFoundError:
                    raise FileNotFoundError(f"row {item.id!r}: image not found: {item.image}") from None
            fingerprint = fingerprints[item.image]
            keys.append(item_key(fingerprint, item.prompt, self.backend.name, self.backend.model, settings))
        return keys

    def run(self, items: Sequence[LabelItem]) -> tuple[list[LabelOutcome], LabelReport]:
        """Label all items.

        Args:
            items (`Sequence[LabelItem]`): the items, in output order.

        Returns:
            `tuple[list[LabelOutcome], LabelReport]`: one outcome per item (same order) and the run report.

        Raises:
            [`~addressvlm.labels.backends.BackendError`]: when the backend cannot serve any request; everything
            finished so far is in the cache.
        """
        started = time.monotonic()
        report = LabelReport(total=len(items))
        if self.backend is None:
            outcomes = [LabelOutcome(it.id, it.fallback, "template", "template_only") for it in items]
            return outcomes, self._finish_report(report, outcomes, started)
        keys = self.item_keys(items)
        outcomes: list[LabelOutcome | None] = [None] * len(items)
        queue: deque[tuple[int, int]] = deque()
        for index, (item, key) in enumerate(zip(items, keys)):
            resumed = self._resume(item, key, report)
            if isinstance(resumed, LabelOutcome):
                outcomes[index] = resumed
            else:
                queue.append((index, resumed))
        problems: Counter[str] = Counter()
        statuses = Counter(o.status for o in outcomes if o is not None)
        with tqdm(
            total=len(items),
            initial=len(items) - len(queue),
            desc="labelling",
            unit="item",
            disable=not self.progress,
            dynamic_ncols=True,
        ) as bar:
            while queue:
                batch = [queue.popleft() for _ in range(min(self.backend.batch_size, len(queue)))]
                requests = []
                for index, attempt in batch:
                    temperature, seed = self.settings.for_attempt(attempt)
                    requests.append(
                        LabelRequest(
                            image=items[index].image,
                            prompt=items[index].prompt,
                            max_new_tokens=self.settings.max_new_tokens,
                            temperature=temperature,
                            top_p=self.settings.top_p,
                            seed=seed,
                            tag=items[index].id,
                        )
                    )
                retries: list[tuple[int, int]] = []

                def on_result(position: int, result: LabelResult, batch=batch, retries=retries) -> None:
                    index, attempt = batch[position]
                    outcome = self._handle(items[index], keys[index], attempt, result, report, problems)
                    if outcome is None:
                        retries.append((index, attempt + 1))
                        return
                    outcomes[index] = outcome
                    statuses[outcome.status] += 1
                    bar.set_postfix({s: statuses[s] for s in ("model", "fallback", "failed")}, refresh=False)
                    bar.update(1)

                self.backend.generate(requests, on_result)
                queue.extendleft(reversed(retries))  # retried items go next, so they finish early
        report.problems = dict(sorted(problems.items()))
        return outcomes, self._finish_report(report, outcomes, started)  # type: ignore[arg-type]

    def _resume(self, item: LabelItem, key: str, report: LabelReport) -> LabelOutcome | int:
        """Return the item's outcome if the cache settles it, else the next attempt number."""
        if self.cache is None:
            return 0
        final = self.cache.final(key)
        if final is not None:
            source = final.get("label_source", "template")
            # A cached fallback is re-rendered, so an edited fallback template applies without new generations.
            return LabelOutcome(
                item.id,
                final.get("reason") if source == "model" else item.fallback,
                source,
                "model" if source == "model" else "fallback",
                int(final.get("attempts", 0)),
                from_cache=True,
                problems=tuple(final.get("problems", ())),
            )
        prior = self.cache.attempts(key)
        report.reused_attempts += len(prior)
        if not prior:
            return 0
        accepted = next((a for a in prior if a.get("ok") and a.get("text")), None)
        tried = 1 + max(int(a.get("attempt", 0)) for a in prior)
        if accepted is not None:
            return self._finalize(item, key, accepted["text"], "model", tried, ())
        if tried >= self.settings.max_attempts:
            return self._finalize(item, key, item.fallback, "template", tried, tuple(prior[-1].get("problems", ())))
        return tried

    def _finalize(
        self, item: LabelItem, key: str, reason: str, source: str, attempts: int, problems: tuple[str, ...]
    ) -> LabelOutcome:
        if self.cache is not None:
            self.cache.append(
                {
                    "kind": "final",
                    "key": key,
                    "id": item.id,
                    "reason": reason,
                    "label_source": source,
                    "attempts": attempts,
                    "problems": list(problems),
                }
            )
        status = "model" if source == "model" else "fallback"
        return LabelOutcome(item.id, reason, source, status, attempts, problems=problems)

    def _handle(
        self,
        item: LabelItem,
        key: str,
        attempt: int,
        result: LabelResult,
        report: LabelReport,
        problems: Counter[str],
    ) -> LabelOutcome | None:
        """Record one backend result; return the item's outcome, or `None` when another attempt is due."""
        if not result.ok:
            if len(report.failures) < _MAX_LISTED_FAILURES:
                report.failures.append({"id": item.id, "error": result.error or "unknown error"})
            return LabelOutcome(item.id, item.fallback, "template", "failed", attempt, error=result.error)
        report.attempts += 1
        text = clean_label_text(result.text or "")
        verdict = self._validator(item).validate(text, item.reference)
        problems.update(verdict.problems)
        temperature, seed = self.settings.for_attempt(attempt)
        if self.cache is not None:
            self.cache.append(
                {
                    "kind": "attempt",
                    "key": key,
                    "id": item.id,
                    "attempt": attempt,
                    "temperature": temperature,
                    "seed": seed,
                    "text": text,
                    "ok": verdict.ok,
                    "problems": list(verdict.problems),
                }
            )
        if verdict.ok:
            return self._finalize(item, key, text, "model", attempt + 1, ())
        logger.debug("%s: attempt %d rejected (%s): %.120s", item.id, attempt, ", ".join(verdict.problems), text)
        if attempt + 1 < self.settings.max_attempts:
            return None
        return self._finalize(item, key, item.fallback, "template", attempt + 1, verdict.problems)

    def _validator(self, item: LabelItem) -> LabelValidator:
        if isinstance(self.validator, LabelValidator):
            return self.validator
        try:
            return self.validator[item.city]
        except KeyError:
            raise KeyError(f"row {item.id!r}: no validator for city {item.city!r}") from None

    def _finish_report(self, report: LabelReport, outcomes: Sequence[LabelOutcome], started: float) -> LabelReport:
        statuses = Counter(o.status for o in outcomes)
        report.model = statuses["model"]
        report.fallen_back = statuses["fallback"]
        report.template_only = statuses["template_only"]
        report.failed = statuses["failed"]
        report.done = report.total - report.failed
        report.from_cache = sum(o.from_cache for o in outcomes)
        report.retried = sum(o.attempts > 1 for o in outcomes if o.status in ("model", "fallback"))
        if self.backend is not None:
            report.backend = {**self.backend.describe(), "events": dict(sorted(self.backend.stats.items()))}
        else:
            report.backend = {"backend": "none (templated reasons only)"}
        if self.cache is not None:
            repairs = ("torn_lines", "corrupt_lines", "duplicate_finals")
            report.cache = {"path": str(self.cache.path), **{k: getattr(self.cache, k) for k in repairs}}
        report.elapsed_s = round(time.monotonic() - started, 3)
        return report
