"""The one error path of every command: a line on stderr, exit status 2 for bad input, 1 otherwise, tracebacks on
request (``--debug`` / ``ADDRESSVLM_DEBUG=1``)."""

from __future__ import annotations

from addressvlm.cli import main
from addressvlm.utils.errors import DEBUG_ENV, cli_command, format_error, run_command


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert main(["data", "stats", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert _last_line(err) == f"error: metadata table {tmp_path / 'nope.csv'} does not exist"
    assert "Traceback" not in err


def test_debug_flag_anywhere_or_environment_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert main(["data", "stats", str(tmp_path / "nope.csv"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and _last_line(err).startswith("error: metadata table")
    monkeypatch.setenv(DEBUG_ENV, "1")
    assert main(["data", "stats", str(tmp_path / "nope.csv")]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_other_failures_are_status_1_with_a_hint(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)

    @cli_command
    def broken(args):
        raise RuntimeError("disk on fire")

    class Args:
        debug = False

    assert broken(Args()) == 1
    err = capsys.readouterr().err
    hint = "(run with --debug or ADDRESSVLM_DEBUG=1 for the traceback)"
    assert err.strip() == f"error: RuntimeError: disk on fire {hint}"
    assert run_command(lambda: 3) == 3 and run_command(lambda: object()) == 0


def test_messages_name_the_file():
    assert format_error(KeyError("ds has no split 'test'")) == "ds has no split 'test'"
    error = PermissionError(1, "Operation not permitted", "/sys/out")
    assert format_error(error) == "/sys/out: Operation not permitted"
