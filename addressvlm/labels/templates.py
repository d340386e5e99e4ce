"""Prompt templates stored as editable text files (``addressvlm/labels/prompts/*.txt``).

A template file is plain text with ``str.format`` placeholders in braces. Lines starting with ``#`` are comments
and are dropped, as are leading and trailing blank lines; write ``{{`` and ``}}`` for literal braces.

Placeholders, by role:

- ``prompt`` (the labelling prompt sent to the LVLM, with the reference hint): ``{street}``, ``{district}``,
  ``{answer}``, ``{city}``;
- ``question`` (the training question, without the hint): ``{city}``;
- ``fallback`` (the templated reason used when the model fails validation): ``{street}``, ``{district}``,
  ``{answer}``, ``{city}``;
- ``target`` (the training target, the ``gpt`` turn): ``{answer}``, ``{reason}`` (required), ``{street}``,
  ``{district}``, ``{city}``.

``{answer}`` is the reference answer of the row (``"street, district"`` for alignment labels, the district for
GeoReasoner labels) and ``{city}`` the city name (``build_info.json``'s ``city`` or ``--city``).
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


__all__ = ["ROLE_FIELDS", "PromptTemplate", "TaskTemplates", "default_template_path", "load_task_templates"]

ROLE_FIELDS: dict[str, frozenset[str]] = {
    "prompt": frozenset({"street", "district", "answer", "city"}),
    "question": frozenset({"city"}),
    "fallback": frozenset({"street", "district", "answer", "city"}),
    "target": frozenset({"answer", "reason", "street", "district", "city"}),
}


@dataclass(frozen=True)
class PromptTemplate:
    """A validated text template.

    Args:
        text (`str`):
            The template text, comments already removed.
        role (`str`):
            One of ``prompt``, ``question``, ``fallback``, ``target`` (see the module docstring).
        source (`str`, *optional*, defaults to `"<string>"`):
            Where the text came from, used in error messages.
    """

    text: str
    role: str
    source: str = "<string>"

    def __post_init__(self):
        if self.role not in ROLE_FIELDS:
            raise ValueError(f"{self.source}: unknown template role {self.role!r}; expected {list(ROLE_FIELDS)}")
        if not self.text.strip():
            raise ValueError(f"{self.source}: the {self.role} template is empty")
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(self.text) if name is not None}
        except ValueError as err:
            raise ValueError(f"{self.source}: malformed template ({err}); write '{{{{' / '}}}}' for braces") from err
        unknown = sorted(f for f in fields if f not in ROLE_FIELDS[self.role])
        if unknown:
            raise ValueError(
                f"{self.source}: unknown placeholder(s) {unknown} in the {self.role} template; "
                f"allowed: {sorted(ROLE_FIELDS[self.role])}"
            )
        if self.role == "target" and "reason" not in fields:
            raise ValueError(f"{self.source}: the target template must contain {{reason}}")

    @classmethod
    def from_file(cls, path: str | Path, role: str) -> PromptTemplate:
        """Read a template file.

        Args:
            path (`str` or `Path`):
                The text file.
            role (`str`):
                The template role.

        Returns:
            [`PromptTemplate`]: the validated template.

        Raises:
            `FileNotFoundError`: if the file does not exist.
            `ValueError`: if the template is empty or uses unknown placeholders.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{role} template file not found: {path}")
        raw = path.read_text(encoding="utf-8")
        lines = [line.rstrip() for line in raw.splitlines() if not line.lstrip().startswith("#")]
        return cls("\n".join(lines).strip("\n"), role, str(path))

    @property
    def sha256(self) -> str:
        """`str`: hash of the template text (goes into cache keys and `build_info.json`)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def render(self, **fields: str) -> str:
        """Fill the placeholders.

        Args:
            **fields (`str`):
                Values for the placeholders; extra values are ignored.

        Returns:
            `str`: the rendered text, stripped.

        Raises:
            `KeyError`: naming the template file if a used placeholder has no value.
        """
        try:
            return self.text.format_map(fields).strip()
        except KeyError as err:
            raise KeyError(f"{self.source}: no value for placeholder {{{err.args[0]}}}") from None


@dataclass(frozen=True)
class TaskTemplates:
    """The four templates one labelling task needs.

    Args:
        prompt (`PromptTemplate`): the labelling prompt, with the reference hint.
        question (`PromptTemplate`): the training question, without the hint.
        fallback (`PromptTemplate`): the templated reason used when the model fails.
        target (`PromptTemplate`): the training target built from answer and reason.
    """

    prompt: PromptTemplate
    question: PromptTemplate
    fallback: PromptTemplate
    target: PromptTemplate


def default_template_path(task: str, role: str) -> Path:
    """Return the packaged default template file for a task and role.

    Args:
        task (`str`): ``alignment`` or ``georeasoner``.
        role (`str`): ``prompt``, ``question``, ``fallback`` or ``target``.

    Returns:
        `Path`: e.g. ``addressvlm/labels/prompts/alignment_prompt.txt`` (``target.txt`` is shared).
    """
    name = "target.txt" if role == "target" else f"{task}_{role}.txt"
    return Path(str(resources.files("addressvlm.labels") / "prompts" / name))


def load_task_templates(task: str, **overrides: str | Path | None) -> TaskTemplates:
    """Load a task's templates, replacing any of them by user files.

    Args:
        task (`str`):
            ``alignment`` or ``georeasoner``.
        **overrides (`str` or `Path`, *optional*):
            ``prompt=``, ``question=``, ``fallback=``, ``target=``: paths of user template files; `None` keeps
            the packaged default.

    Returns:
        [`TaskTemplates`]: the validated templates.
    """
    unknown = sorted(set(overrides) - set(ROLE_FIELDS))
    if unknown:
        raise TypeError(f"unknown template role(s) {unknown}")
    loaded = {
        role: PromptTemplate.from_file(overrides.get(role) or default_template_path(task, role), role)
        for role in ROLE_FIELDS
    }
    return TaskTemplates(**loaded)
