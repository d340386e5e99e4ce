"""`addressvlm experiment --quickstarts`: quickstart folders of several seeds -> means and paired differences."""

import json

import pytest

from addressvlm.cli import main
from addressvlm.experiment import COLUMNS, compare_quickstarts


def _run(folder, seed, baseline_a, addressvlm_a, **settings):
    def metrics(a):
        return {c: (a if c == "A" else 10.0) for c in COLUMNS}

    folder.mkdir()
    summary = {
        "settings": {"seed": seed, "output": str(folder), "locations": 320, **settings},
        "rows": {
            "Baseline (stage 2 only)": metrics(baseline_a),
            "AddressVLM (stage 1 + stage 2)": metrics(addressvlm_a),
        },
    }
    (folder / "comparison.json").write_text(json.dumps(summary))
    return folder


def test_means_and_paired_differences(tmp_path):
    folders = [_run(tmp_path / "s0", 0, 50.0, 54.0), _run(tmp_path / "s1", 1, 60.0, 58.0)]
    text = compare_quickstarts(folders)
    assert "| Baseline (stage 2 only) | 2 |" in text and "55.0 ± 7.1" in text  # Ā of the Baseline: 50 and 60
    pair = next(line for line in text.splitlines() if line.startswith("| AddressVLM (stage 1 + stage 2) − Baseline"))
    assert "1.0 ± 4.2 (1/2)" in pair  # +4 and -2: mean 1, one seed positive
    assert "| AddressVLM (stage 1 + stage 2) | 1 | 10.00 |" in text  # per-seed rows keep two decimals


def test_refuses_repeated_seeds_unfinished_runs_and_other_settings(tmp_path, capsys):
    first = _run(tmp_path / "a", 0, 50.0, 54.0)
    with pytest.raises(ValueError, match="repeat a seed"):
        compare_quickstarts([first, _run(tmp_path / "b", 0, 50.0, 54.0)])
    with pytest.raises(ValueError, match=r"differs from .* in \['locations'\]"):
        compare_quickstarts([first, _run(tmp_path / "c", 1, 50.0, 54.0, locations=48)])
    (tmp_path / "d").mkdir()
    assert main(["experiment", "--quickstarts", str(first), str(tmp_path / "d")]) == 2
    assert "has not finished" in capsys.readouterr().err


def test_the_command_writes_the_table(tmp_path, capsys):
    folders = [str(_run(tmp_path / f"s{seed}", seed, 50.0 + seed, 52.0)) for seed in range(3)]
    assert main(["experiment", "--quickstarts", *folders, "--output", str(tmp_path / "seeds.md")]) == 0
    assert (tmp_path / "seeds.md").read_text() == capsys.readouterr().out.rstrip("\n") + "\n"


def test_options_that_only_add_rows_do_not_block_the_comparison(tmp_path):
    folders = [_run(tmp_path / "s0", 0, 50.0, 54.0), _run(tmp_path / "s1", 1, 60.0, 58.0, rag_training=True)]
    assert "| Baseline (stage 2 only) | 2 |" in compare_quickstarts(folders)
