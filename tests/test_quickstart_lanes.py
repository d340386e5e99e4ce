"""The quickstart's two lanes: the Baseline trains beside stage 1 + AddressVLM, errors surface, finished steps skip."""

import threading
from pathlib import Path

import pytest

from addressvlm.quickstart import QuickstartOptions, _Steps


def test_a_step_beside_runs_concurrently_and_is_timed(tmp_path):
    steps = _Steps(total=2)
    started, release = threading.Event(), threading.Event()

    def beside():
        started.set()
        assert release.wait(10)  # blocks until the main lane has run: both lanes are in flight at once

    wait = steps.run_beside(steps.run, "baseline: train", tmp_path / "none", beside)
    assert started.wait(10)
    steps.run("stage1: train", tmp_path / "none", release.set)
    wait()
    assert set(steps.timings) == {"baseline: train", "stage1: train"} and steps.index == 2


def test_an_error_in_the_other_lane_is_raised_when_waited_for(tmp_path):
    steps = _Steps(total=1)

    def fails():
        raise RuntimeError("stage 2 recipe failed (exit 1); see baseline.log")

    wait = steps.run_beside(steps.run, "baseline: train", tmp_path / "none", fails)
    with pytest.raises(RuntimeError, match="baseline.log"):
        wait()
    assert "baseline: train" not in steps.timings


def test_a_finished_step_beside_is_skipped(tmp_path, capsys):
    done = tmp_path / "train_results.json"
    done.write_text("{}")
    steps = _Steps(total=1)
    steps.run_beside(steps.run, "baseline: train", done, pytest.fail, "must not run")()
    assert "already done" in capsys.readouterr().out


def test_side_by_side_is_the_default():
    assert QuickstartOptions(output=".").side_by_side is True


def test_one_at_a_time_flag_reaches_the_options(monkeypatch, tmp_path):
    import addressvlm.quickstart as quickstart
    from addressvlm.cli import main

    seen = []
    monkeypatch.setattr(quickstart, "run_quickstart", lambda options: seen.append(options) or options.output)
    assert main(["quickstart", "--output", str(tmp_path / "a"), "--one-at-a-time"]) == 0
    assert main(["quickstart", "--output", str(tmp_path / "b")]) == 0
    assert [options.side_by_side for options in seen] == [False, True]


def test_rows_without_addressvlm_run_in_the_baseline_lane_while_addressvlm_trains(monkeypatch, tmp_path):
    """The Baseline lane also evaluates zero-shot, Baseline, k-NN and their retrieval rows, so they overlap stage 1
    and AddressVLM's stage 2; only AddressVLM's own rows wait for its training."""
    import addressvlm.quickstart as quickstart
    import addressvlm.retrieval.quickstart as rag

    log, lane_done = [], threading.Event()

    def record(name):
        log.append((name, threading.current_thread().name))
        if name == "eval baseline_rag":
            lane_done.set()

    def recipe(stage, log_file, *args, **kwargs):
        output = Path(args[args.index("--output_dir") + 1])
        if output.name == "addressvlm":  # deadlocks (and fails) unless the lane's rows run meanwhile
            assert lane_done.wait(20), "the Baseline lane's evaluations did not run beside AddressVLM's training"
        record(f"train {output.name}")
        output.mkdir(parents=True)
        (output / "train_results.json").write_text("{}")

    def touch(name, folder):
        record(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text("{}")

    space = quickstart.Workspace(tmp_path)
    monkeypatch.setattr(quickstart, "prepare", lambda options, steps: space)
    monkeypatch.setattr(quickstart, "_recipe", recipe)
    monkeypatch.setattr(quickstart, "_evaluate", lambda o, m, v, out, *a: touch(f"eval {out.name}", out))
    monkeypatch.setattr(rag, "_evaluate_rag", lambda o, m, v, i, out, *a: touch(f"eval {out.name}", out))
    monkeypatch.setattr(quickstart, "_probe", lambda *a: touch("probe", tmp_path / "probe"))
    monkeypatch.setattr(quickstart, "_cli", lambda *argv: touch(argv[1], Path(argv[argv.index("--output") + 1] if
                        "--output" in argv else argv[argv.index("--output-dir") + 1])))  # fmt: skip
    monkeypatch.setattr(quickstart, "_comparison", lambda *a: "")
    monkeypatch.setattr(quickstart, "_write_readme", lambda out: None)
    quickstart.run_quickstart(QuickstartOptions(output=tmp_path, progress=False))
    lane = [name for name, thread in log if thread == "lane"]
    assert lane == ["train baseline", "eval zero_shot", "eval baseline", "build", "knn", "eval zero_shot_rag",
                    "eval baseline_rag"]  # fmt: skip
    main = [name for name, thread in log if thread == "MainThread"]
    assert main == ["train stage1", "train addressvlm", "eval addressvlm", "probe", "eval addressvlm_rag"]
