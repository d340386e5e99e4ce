"""The end-of-run report of a labelling run (printed and written as JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


__all__ = ["LabelReport"]


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
        if self.skipped:
            lines.append("rows not labelled: " + ", ".join(f"{k} {v}" for k, v in self.skipped.items()))
        if self.problems:
            lines.append("validation problems: " + ", ".join(f"{k} {v}" for k, v in sorted(self.problems.items())))
        counters = {k: v for k, v in self.backend.get("events", {}).items() if v}
        if counters:
            lines.append("backend: " + ", ".join(f"{k} {v}" for k, v in counters.items()))
        repairs = {k: v for k, v in self.cache.items() if k != "path" and v}
        if repairs:
            lines.append("cache repairs: " + ", ".join(f"{k} {v}" for k, v in repairs.items()))
        if self.failed:
            lines.append(
                f"{self.failed} items failed; re-run the same command with --overwrite to retry only those "
                "(finished labels come from the cache)"
            )
        return "\n".join(lines)
