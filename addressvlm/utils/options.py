"""Command options declared once, as dataclasses, and parsed with transformers' `HfArgumentParser`.

A builder's options are one documented dataclass; the CLI sub-command is made from it, so each option (its type,
default, help and choices) is written in one place::

    @dataclass
    class BuildVQAOptions:
        metadata: str = option(help="metadata table", positional=True)
        seed: int = option(0, help="seed of the split and all random choices")

    add_command(subparsers, "build-vqa", BuildVQAOptions, _build_vqa, help="build the VQA set")

    def _build_vqa(args):
        options = options_from(args, BuildVQAOptions)

Flags are spelled with dashes (``--image-size``); `HfArgumentParser` also accepts the underscore spelling. Only
fields made with [`option`] are on the command line (a plain field keeps its default); a `bool` field is a switch
(``--overwrite``; with a `True` default ``--no-<name>`` or ``flag=``), a fixed-length tuple takes that many values.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from transformers import HfArgumentParser


__all__ = ["OptionsParser", "add_command", "option", "options_from"]

T = TypeVar("T")


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    positional: bool = False,
    flag: str | None = None,
    **argparse_kwargs,
):
    """A dataclass field that is also a command-line option.

    Args:
        default (`Any`, *optional*): the default; without one the option is required (a list default is copied).
        help (`str`): the option's help text.
        positional (`bool`, *optional*, defaults to `False`): a positional argument instead of ``--name``.
        flag (`str`, *optional*): the option's spelling when it is not ``--name`` with dashes (a switch whose default
            is `True` is ``--no-name`` unless given; it stores `False`).
        argparse_kwargs: more `argparse` settings (``nargs``, ``choices``, ``metavar``, ``aliases``, ``action``
            such as ``"append"`` with its ``type`` ...).
    """
    metadata = {"help": help, **argparse_kwargs}
    if positional:
        metadata["positional"] = True
    if flag:
        metadata["flag"] = flag
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class OptionsParser(HfArgumentParser):
    """`HfArgumentParser` that also knows positional fields and spells flags with dashes first.

    Used as the parser class of every ``addressvlm`` sub-command, so ``add_parser(name, dataclass_types=[...])``
    builds a sub-command from dataclasses; without ``dataclass_types`` it is a plain `argparse.ArgumentParser`.
    """

    @staticmethod
    def _parse_dataclass_field(parser: argparse.ArgumentParser, field: dataclasses.Field):
        metadata = dict(field.metadata)
        if "help" not in metadata:  # not an option(): not on the command line
            return
        if metadata.pop("positional", False):
            if field.default is not dataclasses.MISSING:
                metadata.setdefault("nargs", "?")
                metadata.setdefault("default", field.default)
            parser.add_argument(field.name, **metadata)
            return
        dashed = f"--{field.name.replace('_', '-')}"
        flag = metadata.pop("flag", None)
        if field.type is bool and field.default in (False, True):  # a switch: --overwrite, not --overwrite [BOOL]
            # A True default is turned off by the switch; its default is not shown (nor set: options_from keeps it).
            flag = flag or (f"--no-{dashed[2:]}" if field.default else dashed)
            action, default = ("store_false", argparse.SUPPRESS) if field.default else ("store_true", False)
            OptionsParser._add_spelled(parser, flag, dest=field.name, action=action, default=default, **metadata)
            return
        if flag or "action" in metadata or getattr(field.type, "__origin__", None) is tuple:
            if getattr(field.type, "__origin__", None) is tuple:  # (3, 8): --flag 3 8
                metadata.setdefault("type", field.type.__args__[0])
                metadata.setdefault("nargs", len(field.type.__args__))
            default = None if field.default is dataclasses.MISSING else field.default
            default = list(default) if isinstance(default, tuple) else default
            OptionsParser._add_spelled(parser, flag or dashed, dest=field.name, default=default, **metadata)
            return
        HfArgumentParser._parse_dataclass_field(parser, field)
        if "_" in field.name:  # one spelling in help and errors (--image-size); --image_size still parses
            parser._option_string_actions[f"--{field.name}"].option_strings.remove(f"--{field.name}")

    @staticmethod
    def _add_spelled(parser: argparse.ArgumentParser, flag: str, **kwargs) -> None:
        """Add ``flag``; its underscore spelling (``--one_at_a_time``) parses too, without being shown."""
        parser.add_argument(flag, **kwargs)
        if "-" in flag[2:]:
            parser._option_string_actions["--" + flag[2:].replace("-", "_")] = parser._option_string_actions[flag]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    options: type | None,
    func: Callable[[argparse.Namespace], Any],
    *,
    help: str,
    description: str | None = None,
    **parser_kwargs,
) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` whose options are the fields of the dataclass ``options``.

    Args:
        subparsers (`argparse._SubParsersAction`): where to add it.
        name (`str`): the sub-command.
        options (`type`, *optional*): the options dataclass (`None`: no options beyond those added later).
        func (`Callable`): ``func(args)`` runs the command (see `addressvlm.utils.errors.run_command`).
        help (`str`): one line for the parent's list of commands.
        description (`str`, *optional*, defaults to ``help``): the text of ``--help``.
        parser_kwargs: more `add_parser` settings (``epilog``, ``formatter_class`` instead of
            `argparse.ArgumentDefaultsHelpFormatter` ...).

    Returns:
        `argparse.ArgumentParser`: the sub-command's parser (more arguments can be added to it).
    """
    parser_kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
    parser = subparsers.add_parser(name, help=help, description=description or help, **parser_kwargs)
    if options is not None:
        if not isinstance(parser, HfArgumentParser):
            raise TypeError(f"'{name}' needs sub-parsers made with parser_class=OptionsParser")
        parser._add_dataclass_arguments(options)
    parser.set_defaults(func=func)
    return parser


def options_from(args: argparse.Namespace, options: type[T]) -> T:
    """The ``options`` dataclass filled from parsed arguments (fields not on the command line keep defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(options) if f.init and hasattr(args, f.name)}
    for f in dataclasses.fields(options):  # a tuple option (nargs=2) parses as a list
        if isinstance(f.default, tuple) and isinstance(values.get(f.name), list):
            values[f.name] = tuple(values[f.name])
    return options(**values)
