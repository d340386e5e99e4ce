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

Flags are spelled with dashes (``--image-size``); `HfArgumentParser` also accepts the underscore spelling.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar


__all__ = ["OptionsParser", "add_command", "option", "options_from"]  # noqa: F822 (OptionsParser: see __getattr__)

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, *, help: str, positional: bool = False, **argparse_kwargs):
    """A dataclass field that is also a command-line option.

    Args:
        default (`Any`, *optional*): the default; without one the option is required (a list default is copied).
        help (`str`): the option's help text.
        positional (`bool`, *optional*, defaults to `False`): a positional argument instead of ``--name``.
        argparse_kwargs: more `argparse` settings (``nargs``, ``choices``, ``metavar``, ``aliases`` ...).
    """
    metadata = {"help": help, **argparse_kwargs}
    if positional:
        metadata["positional"] = True
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _options_parser_class() -> type:
    from transformers import HfArgumentParser

    class OptionsParser(HfArgumentParser):
        """`HfArgumentParser` that also knows positional fields and spells flags with dashes first.

        Used as the parser class of every ``addressvlm`` sub-command, so ``add_parser(name, dataclass_types=[...])``
        builds a sub-command from dataclasses; without ``dataclass_types`` it is a plain `argparse.ArgumentParser`.
        """

        @staticmethod
        def _parse_dataclass_field(parser: argparse.ArgumentParser, field: dataclasses.Field):
            metadata = dict(field.metadata)
            if metadata.pop("positional", False):
                if field.default is not dataclasses.MISSING:
                    metadata.setdefault("nargs", "?")
                    metadata.setdefault("default", field.default)
                parser.add_argument(field.name, **metadata)
                return
            dashed = f"--{field.name.replace('_', '-')}"
            if field.type is bool and field.default is False:  # a switch: --overwrite, not --overwrite [OVERWRITE]
                parser.add_argument(dashed, dest=field.name, action="store_true", **metadata)
                if "_" in field.name:
                    parser._option_string_actions[f"--{field.name}"] = parser._option_string_actions[dashed]
                return
            HfArgumentParser._parse_dataclass_field(parser, field)
            if "_" in field.name:  # one spelling in help and errors (--image-size); --image_size still parses
                parser._option_string_actions[f"--{field.name}"].option_strings.remove(f"--{field.name}")

    OptionsParser.__module__, OptionsParser.__qualname__ = __name__, "OptionsParser"
    return OptionsParser


def __getattr__(name: str):
    # `OptionsParser` subclasses transformers' HfArgumentParser; building it on first use keeps `option` (imported
    # by every options dataclass, e.g. ``addressvlm.data.options``) free of the transformers import.
    if name == "OptionsParser":
        globals()[name] = _options_parser_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

    Returns:
        `argparse.ArgumentParser`: the sub-command's parser (more arguments can be added to it).
    """
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        **parser_kwargs,
    )
    if options is not None:
        from transformers import HfArgumentParser

        if not isinstance(parser, HfArgumentParser):
            raise TypeError(f"'{name}' needs sub-parsers made with parser_class=OptionsParser")
        parser._add_dataclass_arguments(options)
    parser.set_defaults(func=func)
    return parser


def options_from(args: argparse.Namespace, options: type[T]) -> T:
    """The ``options`` dataclass filled from parsed arguments (fields not on the command line keep defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(options) if f.init and hasattr(args, f.name)}
    return options(**values)
