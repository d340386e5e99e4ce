"""Output folders: permissions follow the umask, stale temporaries of killed runs are cleaned, bad output paths and
outputs that hold an input are refused with messages naming them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from addressvlm.utils.io import (
    _host_tag,
    atomic_output_dir,
    atomic_write_text,
    check_not_an_input,
    clean_stale_temporaries,
    ensure_output_dir,
)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_outputs_follow_the_umask(tmp_path, umask_022):
    with atomic_output_dir(tmp_path / "out") as tmp:
        (tmp / "sub").mkdir()
        atomic_write_text(tmp / "sub" / "info.json", "{}")
    assert oct((tmp_path / "out").stat().st_mode & 0o777) == oct(0o755)
    assert oct((tmp_path / "out" / "sub" / "info.json").stat().st_mode & 0o777) == oct(0o644)


def test_stale_temporaries_are_removed_and_unknown_ones_reported(tmp_path, caplog):
    stale = tmp_path / f".out.tmp-{_host_tag()}-{_dead_pid()}-0a1b2c3d"
    (stale / "train").mkdir(parents=True)
    (stale / "train" / "data.arrow").write_bytes(b"x" * 1000)
    running = tmp_path / f".out.tmp-{_host_tag()}-{os.getpid()}-0a1b2c3d"
    legacy = tmp_path / ".out.tmp-8onbd78s"
    running.mkdir()
    legacy.mkdir()
    other = tmp_path / f".other.tmp-{_host_tag()}-{_dead_pid()}-00000000"
    other.mkdir()
    with atomic_output_dir(tmp_path / "out") as tmp:
        (tmp / "a").write_text("a")
    assert not stale.exists() and "removed" in caplog.text and str(stale) in caplog.text
    assert running.exists() and legacy.exists() and other.exists()  # maybe in use, or another output's
    assert str(legacy) in caplog.text
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out"))
    assert left == sorted([running.name, legacy.name])
    assert clean_stale_temporaries(tmp_path / "out") == []


def test_bad_output_paths_name_the_output(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError, match=rf"cannot create {afile / 'sub'}: {afile} is a file"):
        ensure_output_dir(afile / "sub")
    with pytest.raises(FileExistsError, match="exists and is not a folder"):
        ensure_output_dir(afile)
    with pytest.raises(NotADirectoryError, match="is a file"):
        with atomic_output_dir(afile / "sub"):
            pass
    with pytest.raises(OSError, match=r"cannot create the output folder /proc/addressvlm_out: "):
        with atomic_output_dir("/proc/addressvlm_out"):
            pass
    assert afile.read_text() == "x"


def test_an_output_that_holds_an_input_is_refused(tmp_path):
    city = tmp_path / "city"
    (city / "images").mkdir(parents=True)
    (city / "metadata.csv").write_text("x")
    with pytest.raises(ValueError, match=r"contains the input .*metadata\.csv"):
        check_not_an_input(city, [city / "metadata.csv"])
    with pytest.raises(ValueError, match="is the input"):
        check_not_an_input(city, [None, "hub/model-id", city])
    check_not_an_input(city / "vqa", [city / "metadata.csv", city])  # inside the input folder: fine
