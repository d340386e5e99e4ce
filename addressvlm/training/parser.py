"""``--config file.yaml`` plus command-line overrides for `HfArgumentParser` dataclasses (TRL / alignment-handbook
style).

Precedence, lowest first: the dataclass defaults, each ``--config`` file in the order given (later files override
earlier ones, so a small ablation file can sit on top of a base config), then the command-line flags. YAML keys are
the dataclass field names; an unknown key is an error that names it and the file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser


__all__ = ["load_yaml_config", "parse_args"]


def load_yaml_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a recipe YAML file: a mapping of field names to values (an empty file is an empty mapping)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of argument names to values, got {type(values).__name__}")
    return values


def _coerce(action: argparse.Action, value: Any, source: str) -> Any:
    """Check a YAML value against its flag's type before it becomes the flag's default.

    Numeric flags convert strings (YAML 1.1, i.e. PyYAML, reads ``1e-5`` as a string) and reject what does not
    convert. A string the flag's command-line type refuses (``include_num_input_tokens_seen: non_padding``, a
    ``str | bool`` field that `HfArgumentParser` exposes as a boolean) is passed through unconverted, since argparse
    would otherwise re-parse a string default with that type.
    """
    convert = action.type
    if value is None or convert in (None, str):
        return value
    if convert in (int, float):

        def one(item):
            if not isinstance(item, str):
                return item
            try:
                return convert(item)
            except ValueError as err:
                raise ValueError(f"{source}: {action.dest}={item!r} is not a valid value ({err})") from err

        return [one(item) for item in value] if isinstance(value, list) else one(value)
    if isinstance(value, str):
        try:
            convert(value)
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            action.type = None
    return value


def parse_args(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple:
    """Parse ``argv`` into instances of ``dataclass_types``, with YAML defaults from ``--config`` files.

    Args:
        dataclass_types (`Sequence[type]`): the argument dataclasses, in the order they are returned.
        argv (`Sequence[str]`, *optional*): the command line without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        `tuple`: one instance per dataclass type.

    Raises:
        `ValueError`: a YAML key that is no field of any dataclass, or a value that does not convert to the field's
        type.
    """
    parser = HfArgumentParser(list(dataclass_types))
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="YAML",
        help="YAML file of argument values; may be given several times (later files win); flags override files.",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    actions = {action.dest: action for action in parser._actions if action.dest != "help"}
    defaults: dict[str, Any] = {}
    for config in known.config:
        values = load_yaml_config(config)
        unknown = sorted(set(values) - set(actions) - {"config"})
        if unknown:
            raise ValueError(f"{config}: unknown argument(s) {unknown}; see --help for the valid names")
        for key, value in values.items():
            defaults[key] = _coerce(actions[key], value, str(config))
    for key in defaults:
        actions[key].required = False  # a value from YAML satisfies a required flag
    parser.set_defaults(**defaults)
    *outputs, namespace = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    leftover = {key for key in vars(namespace) if key != "config"}
    if leftover:
        raise ValueError(f"Unused arguments: {sorted(leftover)}")
    return tuple(outputs)
