"""Atomic file and folder writes: readers see the old output or the new one, never a half-written one.

Files go through a temporary sibling that is fsync'd and renamed into place; dataset builders write whole folders
the same way (``atomic_output_dir``), so a crash or Ctrl-C never leaves a half-written dataset behind. Outputs get
the usual permissions (0777 / 0666 minus the umask), the temporary folders of killed runs are removed by the next
run, and output paths are checked first (`check_output_folder`, `check_not_an_input`): errors name the output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any


__all__ = [
    "atomic_output_dir",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "check_not_an_input",
    "check_output_dir",
    "check_output_folder",
    "clean_stale_temporaries",
    "ensure_output_dir",
    "write_json",
]

logger = logging.getLogger(__name__)


_TEMP_KINDS = ("tmp", "old")


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", socket.gethostname())[:24] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _folder_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _make_sibling_dir(final: Path, kind: str) -> Path:
    """Create ``.<name>.<kind>-<host>-<pid>-<random>`` beside ``final`` (mode 0777 minus the umask)."""
    while True:
        candidate = final.parent / f".{final.name}.{kind}-{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            continue


def clean_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings (``.<name>.tmp-*``) that killed runs left beside the output folder ``path``.

    A temporary folder is removed when the process that made it (its host and process id are in its name) is
    gone; others are only reported (another build may be writing them, or an older version of addressvlm named
    them). A ``.<name>.old-*`` folder is kept while ``path`` itself is missing: it then holds the previous output.

    Args:
        path (`str` or `os.PathLike`): the final output folder.

    Returns:
        `list[Path]`: the folders removed.
    """
    final = Path(path)
    if not final.parent.is_dir():
        return []
    removed = []
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.({'|'.join(_TEMP_KINDS)})-(.+)$")
    for entry in sorted(final.parent.iterdir()):
        match = pattern.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        kind, tag = match.groups()
        parts = tag.split("-")
        ours = len(parts) == 3 and parts[0] == _host_tag() and parts[1].isdigit()
        if kind == "old" and not final.exists():
            logger.warning(
                "%s holds the previous %s (an interrupted replacement); move it back if needed", entry, final
            )
            continue
        if not ours or _pid_alive(int(parts[1])):
            logger.warning(
                "%s was left by an interrupted or running build of %s; delete it if no other build is running",
                entry,
                final,
            )
            continue
        size = _folder_size(entry)
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
        logger.warning("removed %s (%.1f MB) left by an interrupted build of %s", entry, size / 1e6, final)
    return removed


def check_output_folder(path: str | os.PathLike) -> Path:
    """Check that ``path`` can become a folder: it is not a file and no folder above it is a file.

    Raises:
        `FileExistsError`: ``path`` is a file.
        `NotADirectoryError`: a parent of ``path`` is a file.
    """
    final = Path(path)
    if final.name in ("", ".", ".."):
        final = final.resolve()
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a folder")
    for parent in reversed(final.parents):
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"cannot create {final}: {parent} is a file, not a folder")
    return final


def check_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written as an output folder: not a file, no file above it,
    and empty unless ``overwrite`` (what `atomic_output_dir` checks again when it writes).

    Raises:
        `FileExistsError`, `NotADirectoryError`: naming ``path``.
    """
    final = check_output_folder(path)
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise FileExistsError(f"{final} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    return final


def _creation_error(final: Path, err: OSError) -> OSError:
    reason = err.strerror or str(err)
    kind = type(err) if isinstance(err, (FileNotFoundError, PermissionError, NotADirectoryError)) else PermissionError
    return kind(f"cannot create the output folder {final}: {reason}")


def ensure_output_dir(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` (and its parents), with errors that name it.

    Raises:
        `FileExistsError`, `NotADirectoryError`, `PermissionError`, `FileNotFoundError`: ``path`` cannot be a
        folder or cannot be created; the message names ``path``.
    """
    final = check_output_folder(path)
    try:
        final.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _creation_error(final, err) from None
    return final


def check_not_an_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse an output folder that is, or contains, one of the command's inputs.

    Writing (or replacing with ``--overwrite``) such a folder would delete the inputs. Inputs that are not local
    paths (Hub ids) are ignored.

    Args:
        output (`str` or `os.PathLike`): the output folder.
        inputs (`Iterable`): input files or folders (`None` entries are skipped).

    Raises:
        `ValueError`: naming the output and the input.
    """
    target = Path(output).resolve()
    for item in inputs:
        if item is None or str(item) == "":
            continue
        source = Path(item)
        if not source.exists():
            continue
        source = source.resolve()
        if source == target or target in source.parents:
            relation = "is" if source == target else "contains"
            raise ValueError(
                f"the output folder {output} {relation} the input {item}: writing there would delete it; "
                "choose another output folder"
            )


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` when the ``with`` block succeeds.

    The temporary folder (``.<name>.tmp-<host>-<pid>-<random>`` beside ``path``) is created with the usual
    permissions (0777 minus the umask); temporary folders that killed runs left behind are removed first (see
    [`clean_stale_temporaries`]).

    Args:
        path (`str` or `os.PathLike`):
            The final folder.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace an existing, non-empty ``path``. Without it an existing non-empty folder raises
            `FileExistsError` before anything is written.

    Yields:
        `Path`: the temporary folder to write into (same parent as ``path``, so the final rename is atomic).

    Raises:
        `FileExistsError`, `NotADirectoryError`, `PermissionError`, `FileNotFoundError`: ``path`` exists and is
        not empty (without ``overwrite``), is a file, or cannot be created; messages name ``path``.
    """
    final = check_output_dir(path, overwrite)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(final)
        tmp = _make_sibling_dir(final, "tmp")
    except OSError as err:
        raise _creation_error(final, err) from None
    try:
        yield tmp
        old = None
        if final.exists():
            old = _make_sibling_dir(final, "old")
            os.replace(final, old / final.name)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write(path: str | os.PathLike, write: Callable) -> Path:
    """Call ``write(handle)`` on a temporary UTF-8 text file beside ``path``, fsync it, then rename it over ``path``.

    Args:
        path (`str` or `os.PathLike`):
            Destination file; its folder is created if needed.
        write (`Callable`):
            Writes the content to the open handle.

    Returns:
        `Path`: the written path.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp makes 0600 files
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return final


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see [`atomic_write`])."""
    return atomic_write(path, lambda handle: handle.write(text))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON (keys in their given order) atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``records`` one JSON object per line atomically."""

    def write(handle):
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    return atomic_write(path, write)


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented, key-sorted JSON (stable bytes for the same content), atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
