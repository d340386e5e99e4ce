"""Command options declared once, as dataclasses, and parsed with transformers' `HfArgumentParser`.

A builder's options are one documented dataclass; the CLI sub-command is made from it, so each option (its type,
default, help and choices) is written in one place. An option's help is its entry in the ``Args:`` of the class's
docstring (or of a base's), unless ``option(help=...)`` gives one::

    @dataclass
    class BuildVQAOptions:
        '''Options of ``addressvlm data build-vqa``.

        Args:
            metadata (`str`): metadata table.
            seed (`int`, *optional*, defaults to 0): seed of the split and all random choices.
        '''

        metadata: str = option(positional=True)
        seed: int = option(0)

    add_command(subparsers, "build-vqa", BuildVQAOptions, _build_vqa, help="build the VQA set")

    def _build_vqa(args):
        options = options_from(args, BuildVQAOptions)

Flags are spelled with dashes (``--image-size``); `HfArgumentParser` also accepts the underscore spelling. Only
fields made with [`option`] are on the command line (a plain field keeps its default); a `bool` field is a switch
(``--overwrite``; with a `True` default ``--no-<name>`` or ``flag=``), a fixed-length tuple takes that many values.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import inspect
import re
import types
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints


__all__ = ["OptionsParser", "add_command", "option", "options_from"]  # noqa: F822 (OptionsParser: see __getattr__)

T = TypeVar("T")


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str | None = None,
    positional: bool = False,
    flag: str | None = None,
    **argparse_kwargs,
):
    """A dataclass field that is also a command-line option.

    Args:
        default (`Any`, *optional*): the default; without one the option is required (a list default is copied).
        help (`str`, *optional*): the option's help text (default: the field's entry in the class docstring).
        positional (`bool`, *optional*, defaults to `False`): a positional argument instead of ``--name``.
        flag (`str`, *optional*): the option's spelling when it is not ``--name`` with dashes (a switch whose default
            is `True` is ``--no-name`` unless given; it stores `False`).
        argparse_kwargs: more `argparse` settings (``nargs``, ``choices``, ``metavar``, ``aliases``, ``action``
            such as ``"append"`` with its ``type`` ...).
    """
    metadata = {"option": True, **({} if help is None else {"help": help}), **argparse_kwargs}
    if positional:
        metadata["positional"] = True
    if flag:
        metadata["flag"] = flag
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_ARG = re.compile(r"(\w+) \((?:[^()]|\([^()]*\))*\): (.*)")


def documented_fields(options: type) -> dict[str, str]:
    """Field name -> its text in the ``Args:`` of the class's docstring or a base's (the class's own wins).

    The text is made plain for ``--help``: markup quotes dropped, no final period, ``%`` escaped for `argparse`.
    """
    texts: dict[str, str] = {}
    for klass in reversed(options.__mro__):
        name = None
        for line in inspect.cleandoc(klass.__dict__.get("__doc__") or "").splitlines():
            indent, match = len(line) - len(line.lstrip()), _ARG.fullmatch(line.strip())
            if match and indent == 4:
                name, texts[match[1]] = match[1], match[2]
            elif name and line.strip() and indent > 4:
                texts[name] += " " + line.strip()
            else:
                name = None
    plain = {name: re.sub(r"\[?`+([^`]+)`+\]?", r"\1", text).replace("%", "%%") for name, text in texts.items()}
    return {
        name: text[:-1] if text.endswith(".") and not text.endswith("..") else text for name, text in plain.items()
    }


def _options_parser_class() -> type:
    from transformers import HfArgumentParser

    class OptionsParser(HfArgumentParser):
        """`HfArgumentParser` that also knows positional fields and spells flags with dashes first.

        Used as the parser class of every ``addressvlm`` sub-command, so ``add_parser(name, dataclass_types=[...])``
        builds a sub-command from dataclasses; without ``dataclass_types`` it is a plain `argparse.ArgumentParser`.
        """

        def _add_dataclass_arguments(self, dtype: type) -> None:
            hints, documented = get_type_hints(dtype), documented_fields(dtype)
            for field in dataclasses.fields(dtype):
                if not (field.init and field.metadata.get("option")):  # not an option(): not on the command line
                    continue
                field = copy.copy(field)  # the class's own field stays as it is
                field.type = hints[field.name]
                metadata = {key: value for key, value in field.metadata.items() if key != "option"}
                if "help" not in metadata and field.name not in documented:
                    raise TypeError(f"{dtype.__name__}.{field.name}: document it in the docstring or give help=")
                field.metadata = types.MappingProxyType({"help": documented.get(field.name), **metadata})
                self._parse_dataclass_field(self, field)

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
            flag = metadata.pop("flag", None)
            if field.type is bool and field.default in (False, True):  # a switch: --overwrite, not --overwrite [BOOL]
                # A True default is turned off by the switch; its default is not shown (nor set: options_from
                # keeps it).
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
        parser_kwargs: more `add_parser` settings (``epilog``, ``formatter_class`` instead of
            `argparse.ArgumentDefaultsHelpFormatter` ...).

    Returns:
        `argparse.ArgumentParser`: the sub-command's parser (more arguments can be added to it).
    """
    parser_kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
    parser = subparsers.add_parser(name, help=help, description=description or help, **parser_kwargs)
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
    for f in dataclasses.fields(options):  # a tuple option (nargs=2) parses as a list
        if isinstance(f.default, tuple) and isinstance(values.get(f.name), list):
            values[f.name] = tuple(values[f.name])
    return options(**values)
