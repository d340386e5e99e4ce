"""Checkpoints a run can resume from: complete (weights, optimizer, schedule, random state, trainer state) and intact.

The Trainer resumes from whatever it finds: without ``optimizer.pt`` it silently starts a fresh optimizer *and* a
fresh learning-rate schedule, without ``rng_state.pth`` a different data order. `checkpoint_problems` lists what a
folder lacks or what is damaged (truncated safetensors or torch files), so that a resume is exact or refused with the
file named; ``resume_weights_only`` is the explicit way to continue from weights alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path


__all__ = [
    "WEIGHT_FILES",
    "checkpoint_problems",
    "check_weight_files",
    "file_problem",
    "newest_complete_checkpoint",
]

logger = logging.getLogger(__name__)

WEIGHT_FILES = (
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""Files that hold a checkpoint's weights (one of them is enough)."""

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def file_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a weight, optimizer or state file, or `None` when it looks intact.

    Safetensors headers are parsed (a truncated file is detected without reading the tensors); torch files must be
    complete zip archives; JSON files must parse.
    """
    path = Path(path)
    if not path.is_file():
        return f"{path.name} is missing"
    if path.stat().st_size == 0:
        return f"{path.name} is empty"
    name = path.name
    try:
        if name.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(str(path), framework="pt"):
                pass
        elif name.endswith((".pt", ".pth", ".bin")):
            if not zipfile.is_zipfile(path):
                return f"{name} is damaged (not a complete torch archive: truncated?)"
            with zipfile.ZipFile(path):
                pass
        elif name.endswith(".json"):
            with open(path, encoding="utf-8") as handle:
                json.load(handle)
    except Exception as err:  # noqa: BLE001 (safetensors, zipfile and json raise their own types)
        return f"{name} is damaged ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'})"
    return None


def check_weight_files(folder: str | os.PathLike) -> None:
    """Raise a `ValueError` naming the first damaged weight file of a local model or adapter folder.

    Folders without weight files (Hub ids, or folders that fail later with their own message) pass.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            problem = file_problem(folder / name)
            if problem is not None:
                raise ValueError(f"{folder}{os.sep}{problem}; restore or re-create this file")


def checkpoint_problems(folder: str | os.PathLike, weights_only: bool = False) -> list[str]:
    """What keeps ``folder`` from being resumed exactly (an empty list when nothing does).

    Args:
        folder (`str` or `os.PathLike`): a ``checkpoint-N`` folder.
        weights_only (`bool`, *optional*, defaults to `False`): only the weights and the trainer state are needed
            (``resume_weights_only``); the optimizer, schedule and random state may be missing.

    Returns:
        `list[str]`: one entry per missing or damaged file, e.g. ``"optimizer.pt is missing"``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return ["not a folder"]
    entries = list(folder.iterdir())
    if not entries:
        return ["the folder is empty"]
    deepspeed = any(entry.is_dir() and entry.name.startswith("global_step") for entry in entries)
    problems = [problem for problem in [file_problem(folder / "trainer_state.json")] if problem]
    weights = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not weights and not deepspeed:
        problems.append("no weights (adapter_model.safetensors or model.safetensors) in it")
    problems += [problem for problem in map(file_problem, weights) if problem]
    if weights_only:
        return problems
    if not deepspeed:  # a DeepSpeed engine keeps the optimizer (and its schedule) under global_step*/
        problems += [problem for problem in map(file_problem, (folder / "optimizer.pt", folder / "scheduler.pt"))]
    elif (folder / "scheduler.pt").is_file():
        problems.append(file_problem(folder / "scheduler.pt"))
    rng = sorted(folder.glob("rng_state*.pth"))
    if not rng:
        problems.append("rng_state.pth is missing (the data order and dropout would change)")
    problems += [file_problem(path) for path in rng]
    return [problem for problem in problems if problem]


def newest_complete_checkpoint(output_dir: str | os.PathLike, weights_only: bool = False) -> tuple[str | None, dict]:
    """The newest ``checkpoint-N`` of ``output_dir`` that can be resumed, skipping (and logging) broken ones.

    Args:
        output_dir (`str` or `os.PathLike`): the run's output folder.
        weights_only (`bool`, *optional*, defaults to `False`): see `checkpoint_problems`.

    Returns:
        `tuple`: the checkpoint path (or `None`), and ``{skipped folder: its problems}``.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None, {}
    found = sorted(
        (int(match.group(1)), entry)
        for entry in output_dir.iterdir()
        if entry.is_dir() and (match := _CHECKPOINT.match(entry.name))
    )
    skipped: dict[str, list[str]] = {}
    for _, folder in reversed(found):
        problems = checkpoint_problems(folder, weights_only)
        if not problems:
            return str(folder), skipped
        skipped[str(folder)] = problems
        logger.warning("Not resuming from %s: %s", folder, "; ".join(problems))
    return None, skipped
