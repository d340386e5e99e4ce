"""Validation results for metadata tables: every problem is collected, counted and reported together.

A `ValidationReport` lists each `ValidationIssue` with the file, the 1-based data row (the header is not
counted, so data row 1 is line 2 of a CSV) and the column. `MetadataError` carries the report; its message
shows the counts per kind and the first issues.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field


__all__ = ["MetadataError", "ValidationIssue", "ValidationReport"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in a metadata table.

    Args:
        kind (`str`):
            A stable identifier. Errors: ``missing_column``, ``empty_table``, ``empty_value``, ``no_letters``,
            ``bad_number``, ``out_of_range``, ``duplicate_image``, ``inconsistent_location``, ``missing_image``,
            ``unreadable_image``, ``bad_file_name``, ``unmapped_column``. Warnings: ``name_variants``,
            ``mixed_location``, ``missing_image`` (without image checking).
        message (`str`):
            Human-readable explanation.
        row (`int`, *optional*):
            1-based data row, or `None` for problems of the whole table.
        column (`str`, *optional*):
            The column concerned, if any.
    """

    kind: str
    message: str
    row: int | None = None
    column: str | None = None

    def format(self, source: str) -> str:
        where = [source]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}"


@dataclass
class ValidationReport:
    """All issues found in one table.

    Args:
        source (`str`):
            The file (or a description of the in-memory table) the rows come from.
        n_rows (`int`, *optional*, defaults to 0):
            Number of data rows checked.
        issues (`list[ValidationIssue]`, *optional*):
            The problems found, in row order within each check.
        images_checked (`int`, *optional*, defaults to 0):
            How many image files were opened (0 unless image checking was asked for).
        warnings (`list[ValidationIssue]`, *optional*):
            Things that do not stop a build but change or endanger it (spelling variants that are merged, a
            location naming two streets, image files that do not exist); logged by `raise_if_errors`.
    """

    source: str
    n_rows: int = 0
    issues: list[ValidationIssue] = field(default_factory=list)
    images_checked: int = 0
    warnings: list[ValidationIssue] = field(default_factory=list)

    def add(self, kind: str, message: str, row: int | None = None, column: str | None = None) -> None:
        self.issues.append(ValidationIssue(kind, message, row, column))

    def warn(self, kind: str, message: str, row: int | None = None, column: str | None = None) -> None:
        """Record a warning (see ``warnings``)."""
        self.warnings.append(ValidationIssue(kind, message, row, column))

    @property
    def ok(self) -> bool:
        """`True` when no issue was found."""
        return not self.issues

    def counts(self) -> dict[str, int]:
        """Number of issues per kind, most frequent first."""
        return dict(Counter(issue.kind for issue in self.issues).most_common())

    def bad_rows(self) -> list[int]:
        """Sorted 1-based data rows with at least one issue."""
        return sorted({issue.row for issue in self.issues if issue.row is not None})

    def summary(self, max_issues: int = 20) -> str:
        """A multi-line text: counts per kind, then the first ``max_issues`` issues."""
        if self.ok:
            checked = f", {self.images_checked} images checked" if self.images_checked else ""
            return f"{self.source}: {self.n_rows} rows OK{checked}"
        counts = ", ".join(f"{kind}: {n}" for kind, n in self.counts().items())
        lines = [
            f"{self.source}: {len(self.issues)} problem(s) in {len(self.bad_rows())} of {self.n_rows} rows ({counts})"
        ]
        lines += ["  " + issue.format(self.source) for issue in self.issues[:max_issues]]
        if len(self.issues) > max_issues:
            lines.append(f"  ... and {len(self.issues) - max_issues} more")
        return "\n".join(lines)

    def raise_if_errors(self, max_warnings: int = 20) -> None:
        """Log the warnings (the first ``max_warnings``, then how many more), then raise `MetadataError` when the
        report holds any issue."""
        for issue in self.warnings[:max_warnings]:
            logger.warning("%s", issue.format(self.source))
        if len(self.warnings) > max_warnings:
            logger.warning("%s: ... and %d more warnings", self.source, len(self.warnings) - max_warnings)
        if not self.ok:
            raise MetadataError(self)


class MetadataError(ValueError):
    """A metadata table failed validation; ``.report`` holds every issue.

    Args:
        report (`ValidationReport`):
            The failed report.
    """

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.summary())

    @property
    def kinds(self) -> set[str]:
        """The distinct issue kinds in the report."""
        return set(self.report.counts())
