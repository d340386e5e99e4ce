"""``addressvlm quickstart --georeasoner``: the GeoReasoner row on a very small city, and its place in the table."""

import json

import pandas as pd
import pytest

from addressvlm.cli import build_parser
from addressvlm.quickstart import QuickstartOptions, _comparison, _Steps, options_from_args, prepare
from addressvlm.quickstart_georeasoner import GEOREASONER_ROW, georeasoner_rows, run_georeasoner_row


@pytest.mark.slow
def test_georeasoner_row_on_a_small_city(tmp_path, capsys):
    options = QuickstartOptions(output=tmp_path / "qs", locations=48, views=2, max_streets=6, image_size=56)
    options.georeasoner, options.georeasoner_epochs = True, (0.5, 0.5)
    options.eval_limit, options.progress = 4, False
    steps = _Steps(total=12)
    space = prepare(options, steps)
    run_georeasoner_row(options, space, steps)

    out = space.out
    info = json.loads((out / "data" / "locatability" / "locatability_info.json").read_text())
    assert info["n_kept"] == -(-info["n_images"] * 7 // 10)  # the top 70 % of the street views
    loc = json.loads((out / "data" / "georeasoner_loc" / "build_info.json").read_text())["georeasoner_format"]
    assert loc["kind"] == "location" and loc["train_rows_dropped"] > 0
    # stage B continued from stage A's checkpoint (the tiny random LLM trains in full, as in the other rows)
    record = json.loads((out / "runs" / "georeasoner" / "train_results.json").read_text())
    assert record["train_loss"] > 0 and (out / "runs" / "georeasoner" / "config.json").is_file()
    assert "georeasoner_reason" in (out / "runs" / "georeasoner" / "README.md").read_text()  # its base
    metrics = json.loads((out / "eval" / "georeasoner" / "metrics.json").read_text())
    assert metrics["eval"]["prompt_style"] == "georeasoner" and metrics["eval"]["max_new_tokens"] == 64
    assert sum(metrics["eval"]["parse_counts"].values()) == 3 * 4  # three naming questions on each of 4 images
    assert metrics["n_A_d_G"] == 4 and metrics["n_A_d_J"] == 8
    assert georeasoner_rows(out) == (GEOREASONER_ROW,)

    capsys.readouterr()
    run_georeasoner_row(options, space, _Steps(total=7))  # a second run skips every finished step
    assert capsys.readouterr().out.count("already done") == 7


def test_comparison_places_the_georeasoner_row_and_its_note(tmp_path):
    out = tmp_path / "qs"
    (out / "city").mkdir(parents=True)
    pd.DataFrame({"street": ["A", "B", "C", "D"], "district": ["X", "X", "Y", "Y"]}).to_csv(
        out / "city" / "metadata.csv", index=False
    )
    cells = ("A_d_G", "A_d_J", "A_d_M", "A_d", "A_s_G", "A_s_J", "A_s_M", "A_s", "A", "A_sd")
    for number, key in enumerate(("zero_shot", "baseline", "addressvlm", "georeasoner")):
        metrics = {cell: 10.0 * number for cell in cells} | {f"n_{cell}": 4 for cell in cells}
        metrics |= {"recall": 75.0 + number, "f1": 50.0}
        (out / "eval" / key).mkdir(parents=True)
        (out / "eval" / key / "metrics.json").write_text(json.dumps(metrics))
    options = QuickstartOptions(output=out, georeasoner=True, georeasoner_epochs=(3, 8))
    text = _comparison(out, options, {"total (wall)": 1.0})
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    titles = [line.split("|")[1].strip() for line in lines]
    assert titles[-2:] == ["AddressVLM (stage 1 + stage 2)", "GeoReasoner (reason → loc)"]
    assert "| 30.00 |" in lines[-1]
    assert "epochs shrunk to 3 (reasoning) + 8 (location) against 6 + 12" in text and "recall 78.0 %" in text
    summary = json.loads((out / "comparison.json").read_text())
    assert list(summary["rows"])[-1] == "GeoReasoner (reason → loc)"
    assert summary["settings"]["georeasoner_epochs"] == [3, 8]


def test_cli_options():
    parse = build_parser().parse_args
    options = options_from_args(parse(["quickstart", "--georeasoner", "--georeasoner-epochs", "1", "2"]))
    assert options.georeasoner and options.georeasoner_epochs == (1.0, 2.0)
    assert not options_from_args(parse(["quickstart"])).georeasoner
