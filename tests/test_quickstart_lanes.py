"""The quickstart's two lanes: the Baseline trains beside stage 1 + AddressVLM, errors surface, finished steps skip."""

import threading

import pytest

from addressvlm.quickstart import QuickstartOptions, _Steps


def test_a_step_beside_runs_concurrently_and_is_timed(tmp_path):
    steps = _Steps(total=2)
    started, release = threading.Event(), threading.Event()

    def beside():
        started.set()
        assert release.wait(10)  # blocks until the main lane has run: both lanes are in flight at once

    wait = steps.run_beside("baseline: train", tmp_path / "none", beside)
    assert started.wait(10)
    steps.run("stage1: train", tmp_path / "none", release.set)
    wait()
    assert set(steps.timings) == {"baseline: train", "stage1: train"} and steps.index == 2


def test_an_error_in_the_other_lane_is_raised_when_waited_for(tmp_path):
    steps = _Steps(total=1)

    def fails():
        raise RuntimeError("stage 2 recipe failed (exit 1); see baseline.log")

    wait = steps.run_beside("baseline: train", tmp_path / "none", fails)
    with pytest.raises(RuntimeError, match="baseline.log"):
        wait()
    assert "baseline: train" not in steps.timings


def test_a_finished_step_beside_is_skipped(tmp_path, capsys):
    done = tmp_path / "train_results.json"
    done.write_text("{}")
    steps = _Steps(total=1)
    steps.run_beside("baseline: train", done, pytest.fail, "must not run")()
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
