"""How every command fails: one line on stderr and an exit status; a traceback only when asked for.

Commands of the ``addressvlm`` CLI and the training recipes run through [`run_command`] (or the [`cli_command`]
decorator). Bad input -- a missing or malformed file, a wrong option value, an existing output -- ends with exit
status 2 and ``error: <message>``, where the message names the file, row or key and what to do. Any other failure
ends with exit status 1 and one line naming the exception. ``--debug`` (``addressvlm --debug ...``) or the
environment variable ``ADDRESSVLM_DEBUG=1`` adds the full traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any


__all__ = [
    "BAD_INPUT_ERRORS",
    "DEBUG_ENV",
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "cli_command",
    "debug_enabled",
    "exit_status",
    "format_error",
    "report_error",
    "run_command",
]

DEBUG_ENV = "ADDRESSVLM_DEBUG"
"""Environment variable that turns on tracebacks (``1``, ``true`` or ``yes``)."""

EXIT_BAD_INPUT = 2
"""Exit status for bad input: files, options, configuration values, existing outputs."""

EXIT_FAILURE = 1
"""Exit status for every other failure."""

BAD_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # also MetadataError, UnicodeDecodeError and json.JSONDecodeError
    KeyError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
"""Exceptions that mean "the input is wrong" (exit status 2)."""

_TRACEBACK_HINT = f"(run with --debug or {DEBUG_ENV}=1 for the traceback)"


def debug_enabled(flag: bool = False) -> bool:
    """Whether tracebacks are wanted: ``flag`` (a ``--debug`` option) or ``$ADDRESSVLM_DEBUG`` set to a true value."""
    return bool(flag) or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def exit_status(error: BaseException) -> int:
    """2 for bad input (see `BAD_INPUT_ERRORS`), 1 for anything else."""
    return EXIT_BAD_INPUT if isinstance(error, BAD_INPUT_ERRORS) else EXIT_FAILURE


def format_error(error: BaseException) -> str:
    """The message of an exception, without the quotes `KeyError` adds and with the file of an `OSError`.

    Args:
        error (`BaseException`): the exception.

    Returns:
        `str`: the text to show after ``error:``.
    """
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]
    elif isinstance(error, OSError) and error.strerror and error.filename is not None and len(str(error)) < 400:
        text = f"{error.filename}: {error.strerror}"
        if error.filename2 is not None:
            text += f" (and {error.filename2})"
    else:
        text = str(error).strip()
    if not text:
        text = type(error).__name__
    if not isinstance(error, BAD_INPUT_ERRORS):
        text = f"{type(error).__name__}: {text}"
    return text


def report_error(error: BaseException, debug: bool = False, stream=None) -> int:
    """Print ``error: <message>`` (and the traceback when ``debug``); return the exit status.

    Args:
        error (`BaseException`): the exception that ended the command.
        debug (`bool`, *optional*, defaults to `False`): print the traceback first (also with ``$ADDRESSVLM_DEBUG``).
        stream (*optional*): where to print; defaults to `sys.stderr`.

    Returns:
        `int`: [`exit_status`] of the error.
    """
    stream = stream if stream is not None else sys.stderr
    status = exit_status(error)
    if debug_enabled(debug):
        traceback.print_exception(type(error), error, error.__traceback__, file=stream)
    message = format_error(error)
    if status != EXIT_BAD_INPUT and not debug_enabled(debug):
        message = f"{message} {_TRACEBACK_HINT}"
    print(f"error: {message}", file=stream, flush=True)
    return status


def run_command(function: Callable[..., Any], *args, debug: bool = False, **kwargs) -> int:
    """Call ``function(*args, **kwargs)`` and turn its result or exception into an exit status.

    Args:
        function (`Callable`): the command; an `int` it returns is the exit status, anything else counts as 0.
        debug (`bool`, *optional*, defaults to `False`): show tracebacks (see [`debug_enabled`]).

    Returns:
        `int`: the command's status, [`exit_status`] of its exception, or 130 on Ctrl-C.
    """
    try:
        result = function(*args, **kwargs)
        return int(result) if isinstance(result, int) else 0
    except KeyboardInterrupt:
        if debug_enabled(debug):
            traceback.print_exc()
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as error:  # noqa: BLE001 (the one place where every failure becomes an exit status)
        return report_error(error, debug)


def cli_command(command: Callable[[Any], Any]) -> Callable[[Any], int]:
    """Decorate a command ``command(args) -> int`` of the CLI: errors become a message and an exit status.

    The traceback is shown when ``args.debug`` is set or ``$ADDRESSVLM_DEBUG`` is true.
    """

    @functools.wraps(command)
    def run(args) -> int:
        return run_command(command, args, debug=bool(getattr(args, "debug", False)))

    return run
