"""Table 2 markdown rows."""

import pytest

from addressvlm.inference import format_table, format_table_header, format_table_row
from addressvlm.inference.tables import TABLE2_COLUMNS


def test_row_follows_table2_order_and_marks_empty_cells():
    metrics = {key: float(i) + 0.125 for i, (key, _) in enumerate(TABLE2_COLUMNS)}
    metrics["A_d_M"] = None
    row = format_table_row(metrics, "AddressVLM")
    assert row == "| AddressVLM | 0.12 | 1.12 | – | 3.12 | 4.12 | 5.12 | 6.12 | 7.12 | 8.12 | 9.12 |"
    header = format_table_header().splitlines()
    assert header[0].split("|")[1:-1] == [" Method ", *(f" {title} " for _, title in TABLE2_COLUMNS)]
    assert header[0].count("|") == header[1].count("|") == row.count("|")


def test_table_and_missing_keys():
    metrics = {key: 50.0 for key, _ in TABLE2_COLUMNS}
    table = format_table({"Baseline": metrics, "Ours": metrics})
    assert table.splitlines()[2].startswith("| Baseline | 50.00") and len(table.splitlines()) == 4
    with pytest.raises(KeyError, match="A_sd"):
        format_table_row({k: 1.0 for k, _ in TABLE2_COLUMNS if k != "A_sd"}, "x")
