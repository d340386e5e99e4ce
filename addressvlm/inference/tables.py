"""Markdown rows in the layout of the paper's Table 2 (all numbers in %)."""

from __future__ import annotations

from collections.abc import Mapping


__all__ = ["TABLE2_COLUMNS", "format_table", "format_table_header", "format_table_row"]

TABLE2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("A_d_G", "A_d^G"),
    ("A_d_J", "A_d^J"),
    ("A_d_M", "A_d^M"),
    ("A_d", "Ā_d"),
    ("A_s_G", "A_s^G"),
    ("A_s_J", "A_s^J"),
    ("A_s_M", "A_s^M"),
    ("A_s", "Ā_s"),
    ("A", "Ā"),
    ("A_sd", "A_sd"),
)
"""(metric key, column title) in Table 2 order."""


def format_table_header(name_title: str = "Method") -> str:
    """The two header lines of a Table 2 markdown table."""
    titles = [name_title, *(title for _, title in TABLE2_COLUMNS)]
    return "| " + " | ".join(titles) + " |\n|---|" + "---:|" * len(TABLE2_COLUMNS)


def format_table_row(metrics: Mapping, name: str, digits: int = 2) -> str:
    """One markdown row: ``| name | A_d^G | A_d^J | A_d^M | Ā_d | A_s^G | A_s^J | A_s^M | Ā_s | Ā | A_sd |``.

    Args:
        metrics (`Mapping`): the output of `evaluate_model` or of the ``address_accuracy`` metric (percentages).
        name (`str`): the row label (method / model).
        digits (`int`, *optional*, defaults to 2): decimals, as in the paper.

    Returns:
        `str`: the row; a cell without questions (`None`) shows ``–``.
    """
    missing = [key for key, _ in TABLE2_COLUMNS if key not in metrics]
    if missing:
        raise KeyError(f"metrics lack {missing}: pass the output of evaluate_model or of address_accuracy")
    cells = ["–" if metrics[key] is None else f"{metrics[key]:.{digits}f}" for key, _ in TABLE2_COLUMNS]
    return "| " + " | ".join([name, *cells]) + " |"


def format_table(results: Mapping[str, Mapping], name_title: str = "Method", digits: int = 2) -> str:
    """A whole Table 2 markdown table, one row per ``name -> metrics`` item, in the mapping's order."""
    rows = [format_table_row(metrics, name, digits) for name, metrics in results.items()]
    return "\n".join([format_table_header(name_title), *rows])
