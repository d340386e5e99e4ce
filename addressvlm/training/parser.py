"""``--config file.yaml`` plus command-line overrides for `HfArgumentParser` dataclasses (TRL / alignment-handbook
style).

Precedence, lowest first: the dataclass defaults, each ``--config`` file in the order given (later files override
earlier ones, so a small ablation file can sit on top of a base config), then the command-line flags. YAML keys are
the dataclass field names; an unknown key is an error that names it and the file. A relative ``--config`` that is
not a file names a config shipped with the package (`find_config`), so an installation needs no checkout.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import os
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser


__all__ = ["find_config", "load_yaml_config", "parse_args"]


def find_config(path: str | os.PathLike) -> Path:
    """The config file ``path`` names: the file itself, else for a relative path the config shipped with the package
    (`addressvlm.recipes.CONFIGS_DIR`) at that path, or at the part after its last ``configs`` folder (so
    ``llava_phi3/pitts_stage1.yaml`` and a checkout's ``recipes/configs/llava_phi3/pitts_stage1.yaml`` both work).

    Raises:
        `FileNotFoundError`: no such file, naming where it was looked for.
    """
    path = Path(path)
    if path.is_file() or path.is_absolute():
        if not path.is_file():
            raise FileNotFoundError(f"Config file not found: {path}")
        return path
    from addressvlm.recipes import CONFIGS_DIR  # a path constant; the recipes import nothing here

    parts = path.parts
    tail = parts[len(parts) - parts[::-1].index("configs") :] if "configs" in parts else parts
    for candidate in (CONFIGS_DIR.joinpath(*parts), CONFIGS_DIR.joinpath(*tail)):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Config file not found: {path} (nor among the shipped configs in {CONFIGS_DIR})")


def load_yaml_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a recipe YAML file: a mapping of field names to values (an empty file is an empty mapping).

    Args:
        path (`str` or `os.PathLike`): the file, or the name of a shipped config (see `find_config`).

    Raises:
        `FileNotFoundError`: the file does not exist.
        `ValueError`: the file is not valid YAML (the message gives the line and column) or not a mapping.
    """
    path = find_config(path)
    try:
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of argument names to values, got {type(values).__name__}")
    return values


_TRUE = ("true", "yes", "y", "t", "on", "1")
_FALSE = ("false", "no", "n", "f", "off", "0")


class _Rejected(Exception):
    """A value that does not fit a field's type."""


def _alternatives(hint: Any) -> list[Any]:
    """The types a field accepts: the members of a union (``None`` included), else the type itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return list(typing.get_args(hint))
    return [hint]


_NAMES = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _describe(hint: Any) -> str:
    names = []
    for option in _alternatives(hint):
        origin = typing.get_origin(option)
        if option in _NAMES:
            names.append(_NAMES[option])
        elif origin is typing.Literal:
            names.append(f"one of {list(typing.get_args(option))}")
        elif isinstance(option, type) and issubclass(option, enum.Enum):
            names.append(f"one of {[member.value for member in option]}")
        elif origin in (list, tuple):
            item = typing.get_args(option)[0] if typing.get_args(option) else Any
            names.append(f"a list of {_describe(item)}" if item is not Any else "a list")
        else:
            names.append(getattr(option, "__name__", str(option)))
    return " or ".join(names)


def _convert_one(option: Any, value: Any) -> Any:
    """``value`` as ``option`` (one member of a field's union), or `_Rejected`."""
    origin = typing.get_origin(option)
    if option is Any:
        return value
    if option is type(None):
        if value is None:
            return None
        raise _Rejected
    if option is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise _Rejected
    if option in (int, float):
        if isinstance(value, str):  # PyYAML reads 1e-5 as text
            try:
                return option(value)
            except ValueError:
                raise _Rejected from None
        if option is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int if option is int else (int, float)) and not isinstance(value, bool):
            return value
        raise _Rejected
    if option is str:
        if isinstance(value, str):
            return value
        raise _Rejected
    if origin is typing.Literal:
        if value in typing.get_args(option):
            return value
        raise _Rejected
    if isinstance(option, type) and issubclass(option, enum.Enum):
        values = [member.value for member in option]
        if isinstance(value, option):
            return value.value
        if value in values:
            return value
        raise _Rejected
    if origin in (list, tuple):
        item = typing.get_args(option)[0] if typing.get_args(option) else Any
        items = value if isinstance(value, (list, tuple)) else [value]
        converted = [_convert(item, element) for element in items]
        return converted if isinstance(value, (list, tuple)) else converted[0]
    return value  # dicts and other types: the dataclass checks them


def _convert(hint: Any, value: Any) -> Any:
    for option in _alternatives(hint):
        try:
            return _convert_one(option, value)
        except _Rejected:
            continue
    raise _Rejected


def _coerce(action: argparse.Action, hint: Any, value: Any, source: str) -> Any:
    """Check a YAML value against its field's type before it becomes the flag's default.

    Every value is checked against the dataclass field's annotation: booleans must be YAML booleans (or ``yes`` /
    ``no`` / ``true`` / ``false`` as text), integers whole numbers, numbers numbers (YAML 1.1, i.e. PyYAML, reads
    ``1e-5`` as a string, which is converted), choices one of their values. A misspelt boolean such as ``flase`` is
    an error instead of a truthy string. A string for a ``str | bool`` field (``include_num_input_tokens_seen:
    non_padding``, which `HfArgumentParser` exposes as a boolean flag) is kept as text.

    Raises:
        `ValueError`: naming the file, the key, the value and what the field accepts.
    """
    try:
        converted = _convert(hint, value)
    except _Rejected:
        raise ValueError(
            f"{source}: {action.dest}={value!r} is not a valid value (expected {_describe(hint)})"
        ) from None
    convert = action.type
    if isinstance(converted, str) and convert not in (None, str):
        try:
            convert(converted)
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            action.type = None  # argparse would re-parse a string default with the flag's type
    return converted


def _field_hints(dataclass_types: Sequence[type]) -> dict[str, Any]:
    """The type annotation of every field of ``dataclass_types`` (resolved, not the parser's rewritten types)."""
    hints: dict[str, Any] = {}
    for dtype in dataclass_types:
        resolved = typing.get_type_hints(dtype)
        for item in dataclasses.fields(dtype):
            if item.init:
                hints[item.name] = resolved.get(item.name, Any)
    return hints


def parse_args(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple:
    """Parse ``argv`` into instances of ``dataclass_types``, with YAML defaults from ``--config`` files.

    Args:
        dataclass_types (`Sequence[type]`): the argument dataclasses, in the order they are returned.
        argv (`Sequence[str]`, *optional*): the command line without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        `tuple`: one instance per dataclass type.

    Raises:
        `ValueError`: a YAML key that is no field of any dataclass, a value that does not fit the field's type
        (misspelt booleans, fractions for integers, unknown choices), or invalid YAML; each message names the file
        and the key.
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
    # A YAML key may be any long option of a field, e.g. the deprecated alias `torch_dtype` of `dtype`.
    dests = {option[2:]: dest for dest, action in actions.items() for option in action.option_strings}
    dests.update({dest: dest for dest in actions})
    hints = _field_hints(dataclass_types)
    defaults: dict[str, Any] = {}
    for config in known.config:
        values = load_yaml_config(config)
        unknown = sorted(set(values) - set(dests) - {"config"})
        if unknown:
            raise ValueError(f"{config}: unknown argument(s) {unknown}; see --help for the valid names")
        for key, value in values.items():
            defaults[dests[key]] = _coerce(actions[dests[key]], hints.get(dests[key], Any), value, str(config))
    for key in defaults:
        actions[key].required = False  # a value from YAML satisfies a required flag
    parser.set_defaults(**defaults)
    *outputs, namespace = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    leftover = {key for key in vars(namespace) if key != "config"}
    if leftover:
        raise ValueError(f"Unused arguments: {sorted(leftover)}")
    return tuple(outputs)
