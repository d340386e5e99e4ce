"""Reading and validating metadata tables: every bad input gets its named error with file, row and column."""

from __future__ import annotations

import pandas as pd
import pytest

from addressvlm.data.metadata import read_metadata, validate_metadata
from addressvlm.data.validation import MetadataError


def _write(frame: pd.DataFrame, path):
    frame.to_csv(path, index=False)
    return path


def test_valid_csv_and_parquet_read_identically(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=5, views=2)
    frame["location_id"] = [f"{i:03d}" for i in range(5) for _ in range(2)]  # leading zeros must survive
    csv = read_metadata(_write(frame, tmp_path / "m.csv"))
    frame.to_parquet(tmp_path / "m.parquet")
    parquet = read_metadata(tmp_path / "m.parquet")
    pd.testing.assert_frame_equal(csv, parquet)
    assert csv["location_id"].iloc[0] == "000"
    assert csv.attrs["image_root"] == str(tmp_path.resolve())
    assert csv["lat"].dtype == "float64"


def test_missing_columns_are_all_reported(tmp_path, metadata_factory):
    path = _write(metadata_factory(n_locations=3).drop(columns=["street", "lat"]), tmp_path / "m.csv")
    with pytest.raises(MetadataError) as info:
        read_metadata(path)
    issues = info.value.report.issues
    assert {(i.kind, i.column) for i in issues} == {("missing_column", "street"), ("missing_column", "lat")}
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("street", "", "empty_value"),
        ("district", "   ", "empty_value"),
        ("lat", "91.5", "out_of_range"),
        ("lon", "-180.01", "out_of_range"),
        ("lat", "north", "bad_number"),
        ("location_id", "", "empty_value"),
    ],
)
def test_bad_cell_names_file_row_and_column(tmp_path, metadata_factory, column, value, kind):
    frame = metadata_factory(n_locations=4, views=1).astype({column: object})
    frame.loc[2, column] = value
    path = _write(frame, tmp_path / "m.csv")
    with pytest.raises(MetadataError) as info:
        read_metadata(path)
    (issue,) = info.value.report.issues
    assert (issue.kind, issue.row, issue.column) == (kind, 3, column)
    assert f"{path}, row 3, column {column!r}" in str(info.value)


def test_duplicate_images_point_to_first_row(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=4, views=1)
    frame.loc[3, "image"] = frame.loc[1, "image"]
    with pytest.raises(MetadataError) as info:
        read_metadata(_write(frame, tmp_path / "m.csv"))
    (issue,) = info.value.report.issues
    assert (issue.kind, issue.row, issue.column) == ("duplicate_image", 4, "image")
    assert "row 2" in issue.message


def test_all_problems_are_collected_with_counts(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=10, views=1)
    frame.loc[[1, 4, 7], "street"] = ""
    frame.loc[[2, 3], "lat"] = 120.0
    with pytest.raises(MetadataError) as info:
        read_metadata(_write(frame, tmp_path / "m.csv"))
    report = info.value.report
    assert report.counts() == {"empty_value": 3, "out_of_range": 2}
    assert report.bad_rows() == [2, 3, 4, 5, 8]
    assert "5 problem(s) in 5 of 10 rows" in str(info.value)


def test_images_are_checked_only_when_asked(tmp_path, image_table):
    frame = pd.read_csv(image_table)
    (tmp_path / frame["image"].iloc[0]).unlink()
    (tmp_path / frame["image"].iloc[3]).write_bytes(b"not an image")
    read_metadata(image_table)  # no file access by default
    with pytest.raises(MetadataError) as info:
        read_metadata(image_table, check_images=True)
    report = info.value.report
    assert report.counts() == {"missing_image": 1, "unreadable_image": 1}
    assert [(i.row, i.column) for i in report.issues] == [(1, "image"), (4, "image")]
    assert report.images_checked == len(frame) - 1 + frame["satellite"].nunique() * 2


def test_column_map_renames_before_validation(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=3).rename(columns={"street": "road", "district": "neighbourhood"})
    table = read_metadata(
        _write(frame, tmp_path / "m.csv"), column_map={"road": "street", "neighbourhood": "district"}
    )
    assert {"street", "district"} <= set(table.columns)


def test_unsupported_format_and_missing_file(tmp_path):
    (tmp_path / "m.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unsupported metadata format"):
        read_metadata(tmp_path / "m.xlsx")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_metadata(tmp_path / "nope.csv")


def test_validate_in_memory_table_reports_ok(metadata_factory):
    report = validate_metadata(metadata_factory(n_locations=3, views=3), source="memory")
    assert report.ok
    assert report.summary() == "memory: 9 rows OK"
