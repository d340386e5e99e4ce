"""`addressvlm experiment`: grid files, the paired summary, and one tiny grid end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from addressvlm.cli import main
from addressvlm.experiment import COLUMNS, load_grid, summarise


def _grid(tmp_path, text):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text,message",
    [
        ("arms: {baseline: {}}\nsedes: [0]\n", "unknown key(s) ['sedes']"),
        ("arms: {}\n", "'arms' must map"),
        ("arms: {baseline: {}, a: {stage1: {delta: half}}}\n", "arms.a.stage1.delta must be a number"),
        ("arms: {baseline: {}, a: {stage1: {reasons: nope}}}\n", "arms.a.stage1.reasons must be true or false"),
        ("arms: {baseline: {}, a: {stage1: {satellite: blank}}}\n", "arms.a.stage1.satellite must be one of"),
        ("arms: {a: {}}\n", "reference 'baseline' is not an arm"),
        ("arms: {baseline: {}}\nquickstart: {epochs: 3}\n", "quickstart: unknown option(s) ['epochs']"),
        ("arms: {baseline: {}}\nsplit: train\n", "split must be test or validation"),
    ],
)
def test_bad_grid_files_are_named(tmp_path, text, message):
    path = _grid(tmp_path, text)
    with pytest.raises(ValueError) as caught:
        load_grid(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_arms_with_the_same_stage1_share_it(tmp_path):
    grid = load_grid(
        _grid(
            tmp_path, "arms: {baseline: {}, a: {stage1: {}}, b: {stage1: {delta: 0.5}}, c: {stage1: {delta: 0.3}}}\n"
        )
    )
    keys = {arm.name: arm.stage1_key for arm in grid.arms}
    assert keys == {
        "baseline": None,
        "a": "labeled-d0.5-reasons",
        "b": "labeled-d0.5-reasons",
        "c": "labeled-d0.3-reasons",
    }


def test_summary_pairs_seeds_and_counts_wins(tmp_path):
    grid = load_grid(_grid(tmp_path, "seeds: [0, 1, 2]\narms: {baseline: {}, ours: {stage1: {}}}\n"))
    values = {("baseline", 0): 50, ("baseline", 1): 60, ("baseline", 2): 70, ("ours", 0): 55, ("ours", 1): 58}
    for (arm, seed), value in values.items():
        folder = tmp_path / "out" / "seeds" / str(seed) / "arms" / arm
        folder.mkdir(parents=True)
        row = {"seed": seed, "arm": arm, **{c: float(value) for c in COLUMNS}, "judgement_learnt": value > 55}
        row["padding_fraction"] = 0.02
        (folder / "row.json").write_text(json.dumps(row))
    text = summarise(grid, tmp_path / "out")
    assert "| baseline | 3 | 60.0 ± 10.0 |" in text
    assert "| ours | 2 | 56.5 ± 2.1 |" in text
    assert "| ours | 2 | 1.5 ± 4.9 (1/2) |" in text  # seed 0: +5, seed 1: -2; seed 2 has no pair
    paired = json.loads((tmp_path / "out" / "results.json").read_text())["paired"]["ours"]["A"]
    assert paired == {"diffs": [5.0, -2.0], "wins": 1}
    assert "| 2/3 | 2.0 ± 0.0 % |" in text  # judgement learnt in 2 of 3 baseline runs; padding in percent


@pytest.mark.slow
def test_tiny_grid_runs_resumes_and_probes_reading(tmp_path, capsys):
    grid = _grid(
        tmp_path,
        "seeds: [0]\nsplit: validation\nreading_probe: true\n"
        "quickstart: {locations: 40, views: 2, max_streets: 6, image_size: 56, stage1_epochs: 0.25, "
        "stage2_epochs: 0.25, progress: false}\n"
        "arms: {baseline: {}, addressvlm: {stage1: {}}, answers_only: {stage1: {reasons: false}}}\n",
    )
    out = tmp_path / "out"
    assert main(["experiment", "--grid", str(grid), "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [(row["arm"], row["split"]) for row in results["rows"]] == [
        ("baseline", "validation"), ("addressvlm", "validation"), ("answers_only", "validation"),
    ]  # fmt: skip
    reading = json.loads((out / "seeds" / "0" / "reading_validation.json").read_text())
    assert set(reading["models"]) == {"base", "stage1 labeled-d0.5-reasons", "stage1 labeled-d0.5-answers"}
    assert set(reading["models"]["base"]) >= {"grafted", "tile", "tile_unlabeled", "inset"}
    assert reading["question"].endswith("Explain why.")
    stamp = (out / "seeds" / "0" / "arms" / "addressvlm" / "row.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["experiment", "--grid", str(grid), "--output", str(out)]) == 0  # resumes: nothing re-run
    assert (out / "seeds" / "0" / "arms" / "addressvlm" / "row.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[1] / "recipes" / "experiments").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_shipped_grids_load(path):
    grid = load_grid(path)
    assert grid.reference in {arm.name for arm in grid.arms}
    assert grid.split in ("test", "validation")
    if "tuning" in path.name:
        assert grid.split == "validation" and not set(grid.seeds) & {0, 1, 2, 3, 4}  # never tuned on reported seeds


def _judgement_records(own_answer: str, says_yes_to: set[str]) -> list[dict]:
    """One image: the model generated ``own_answer`` and said Yes to the names in ``says_yes_to``."""
    from addressvlm.data.templates import JUDGEMENT_SUFFIX

    records = [{"id": "img", "level": "district", "type": "generation", "question": "Which district?",
                "prediction": own_answer}]  # fmt: skip
    for name in ("Kluuvi", "Kamppi", "Punavuori"):
        question = "Where is this? " + JUDGEMENT_SUFFIX["district"].format(name=name)
        answer = "Yes" if name in says_yes_to else "No"
        records.append({"id": "img", "level": "district", "type": "judgement", "question": question,
                        "prediction": answer})  # fmt: skip
    return records


@pytest.mark.parametrize(
    ("own", "yes", "expected"),
    [
        ("Kluuvi", {"Kluuvi"}, 100.0),
        ("Kluuvi", {"Kamppi", "Punavuori"}, -100.0),
        ("Kluuvi", {"Kluuvi", "Kamppi"}, 50.0),
    ],
)
def test_judgement_consistency_follows_the_models_own_answer(tmp_path, own, yes, expected):
    from addressvlm.experiment import judgement_consistency

    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _judgement_records(own, yes)) + "\n")
    assert judgement_consistency(path) == pytest.approx(expected)
    path.write_text(json.dumps(_judgement_records(own, yes)[0]) + "\n")  # no judgement questions: no value
    assert judgement_consistency(path) is None
