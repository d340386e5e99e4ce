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


def test_unreadable_tables_name_the_file_and_row(tmp_path, metadata_factory):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty; a metadata table starts with a header"):
        read_metadata(tmp_path / "empty.csv")
    text = metadata_factory(n_locations=3, views=1).to_csv(index=False).encode()
    (tmp_path / "latin1.csv").write_bytes(text.replace(b"Street", b"H\xe4meentie", 2))  # first on data row 1
    with pytest.raises(ValueError, match=r"latin1\.csv: line 2 \(data row 1\), character \d+: byte 0xe4 is not UTF-8"):
        read_metadata(tmp_path / "latin1.csv")
    (tmp_path / "header.csv").write_text(",".join(metadata_factory(n_locations=1).columns) + "\n")
    with pytest.raises(MetadataError, match="the table has a header but no rows"):
        read_metadata(tmp_path / "header.csv")


def test_the_same_file_under_another_spelling_is_a_duplicate(tmp_path, metadata_factory):
    frame = metadata_factory(n_locations=4, views=1)
    frame.loc[1, "image"] = "images/../" + frame.loc[0, "image"]
    frame.loc[3, "image"] = str(tmp_path / frame.loc[2, "image"])
    with pytest.raises(MetadataError) as info:
        read_metadata(_write(frame, tmp_path / "m.csv"))
    assert [(i.kind, i.row) for i in info.value.report.issues] == [("duplicate_image", 2), ("duplicate_image", 4)]
    assert "the same file" in info.value.report.issues[0].message


def test_names_without_letters_and_inconsistent_locations(tmp_path, metadata_factory, caplog):
    frame = metadata_factory(n_locations=6, views=2, n_streets=6, n_districts=3)
    frame.loc[0, "district"] = "***"
    frame.loc[2, "street"] = "\U0001f3d9\ufe0f"
    frame.loc[5, "lat"] = 10.0  # location 2, far from its first row
    frame.loc[7, "street"] = "Some Other Street"  # location 3 names two streets: a warning
    with pytest.raises(MetadataError) as info:
        read_metadata(_write(frame, tmp_path / "m.csv"))
    report = info.value.report
    assert [(i.kind, i.row, i.column) for i in report.issues] == [
        ("no_letters", 3, "street"),
        ("no_letters", 1, "district"),
        ("inconsistent_location", 6, "lat"),
    ]
    assert "km from its row 5" in report.issues[2].message
    assert [(w.kind, w.row) for w in report.warnings] == [("mixed_location", 7), ("missing_image", 1)]
    assert "Some Other Street" in caplog.text


def test_missing_images_are_a_warning_without_image_checks(tmp_path, image_table, caplog):
    frame = pd.read_csv(image_table)
    (tmp_path / frame["image"].iloc[2]).unlink()
    read_metadata(image_table)
    assert "1 of 24 image files do not exist (row 3" in caplog.text


def test_spellings_of_one_name_are_one_name_in_the_built_set(tmp_path, metadata_factory, caplog):
    """The probe's 'Street 1' / 'street 1 ' table: one street, so no multiple-choice question offers it twice and no
    judgement question asks about it with the answer No."""
    import unicodedata

    from addressvlm.data.vqa import build_vqa

    def name_key(name):  # case, spacing and accents ignored, as when answers are scored
        text = "".join(c for c in unicodedata.normalize("NFD", name.casefold()) if not unicodedata.combining(c))
        return " ".join(text.split())

    frame = metadata_factory(n_locations=60, views=2, n_streets=6, n_districts=3)
    one = frame["street"] == "Street 1"
    frame.loc[one, "street"] = "street 1 "
    frame.loc[frame.index[one][0], "street"] = "Street 1"
    frame.loc[frame["district"] == "District 2", "district"] = "DISTRICT 2"
    frame.loc[frame.index[frame["district"] == "DISTRICT 2"][:2], "district"] = "Distríct 2"
    built = build_vqa(frame, image_root=tmp_path, turns_per_image=3)
    for split in built.values():
        for row in split:
            for q in row["questions"]:
                keys = [name_key(option) for option in q["options"]]
                assert len(keys) == len(set(keys)), q
                if q["type"] == "judgement" and q["reference"] == "No":
                    assert name_key(row[q["level"]]) not in name_key(q["question"]).split(" taken ")[-1], q
    streets = {s for split in built.values() for s in split["street"]}
    assert "Street 1" not in streets and "street 1" in streets
    assert "DISTRICT 2" in {d for split in built.values() for d in split["district"]}
    assert "'Street 1' (row" in caplog.text and "they are one street, written 'street 1'" in caplog.text


def test_column_map_columns_must_be_a_mapping(tmp_path, metadata_factory):
    from addressvlm.data.adapters import load_column_mapping

    (tmp_path / "cmap.yaml").write_text("columns: [img_path, image]\n")
    with pytest.raises(ValueError, match=r"cmap\.yaml: 'columns' must map each column of the file to a schema"):
        load_column_mapping(tmp_path / "cmap.yaml")
