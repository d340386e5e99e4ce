"""The two labelling tasks as data: what is asked, what must be named, and how output rows look.

- ``alignment`` (AddressVLM stage 1): grafted image, hint = street + district, the label must name both and must
  not give another street of the city as the answer; answer ``"{street}, {district}"``.
- ``georeasoner`` (GeoReasoner stage 1, appendix C): street-view image only, hint = district, the label must name
  the district and must not give another district as the answer; answer ``"{district}"``.

Rows are plain dicts with the stage-1 / VQA fields of ``docs/data_format.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from addressvlm.labels.runner import LabelItem, LabelOutcome
from addressvlm.labels.templates import TaskTemplates


__all__ = ["ALIGNMENT", "DEFAULT_CITY", "GEOREASONER", "TASKS", "LabelTask", "labelled_fields"]

DEFAULT_CITY = "the city"


@dataclass(frozen=True)
class LabelTask:
    """A labelling task.

    Args:
        name (`str`): ``alignment`` or ``georeasoner`` (selects the default template files).
        answer_kind (`str`): the name kind that is the answer (``street`` or ``district``).
        required_kinds (`tuple[str, ...]`): kinds whose reference name a label must contain.
    """

    name: str
    answer_kind: str
    required_kinds: tuple[str, ...]

    def fields(self, row: Mapping[str, Any], city: str) -> dict[str, str]:
        """Placeholder values of a row for the templates; ``answer`` is the row's reference answer (its own
        ``answer`` field for alignment rows that have one)."""
        street, district = str(row["street"]), str(row["district"])
        answer = district if self.answer_kind == "district" else str(row.get("answer") or f"{street}, {district}")
        return {"street": street, "district": district, "answer": answer, "city": city}

    def reference(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Reference names for the validator."""
        return {kind: str(row[kind]) for kind in {*self.required_kinds, self.answer_kind}}

    def item(self, row: Mapping[str, Any], image: str, templates: TaskTemplates, city: str) -> LabelItem:
        """Build the labelling item of a row.

        Args:
            row (`Mapping`): the dataset row (needs ``id``, ``street``, ``district``).
            image (`str`): absolute path of the image to show the labelling model.
            templates ([`TaskTemplates`]): the task's templates.
            city (`str`): the row's city name for ``{city}``.
        """
        fields = self.fields(row, city)
        return LabelItem(
            id=str(row["id"]),
            image=image,
            prompt=templates.prompt.render(**fields),
            reference=self.reference(row),
            fallback=templates.fallback.render(**fields),
            city=city,
        )


ALIGNMENT = LabelTask("alignment", answer_kind="street", required_kinds=("street", "district"))
GEOREASONER = LabelTask("georeasoner", answer_kind="district", required_kinds=("district",))
TASKS = {task.name: task for task in (ALIGNMENT, GEOREASONER)}


def labelled_fields(
    task: LabelTask, row: Mapping[str, Any], outcome: LabelOutcome, templates: TaskTemplates, city: str
) -> dict[str, Any]:
    """The fields a labelled row gets: ``question``, ``answer``, ``reason``, ``label_source`` and ``conversations``
    (``[human: question, gpt: target]``, backbone-neutral: no image placeholder).

    The question is always the question template, never the row's own: the labelled target holds a reason, so the
    training question must ask for one (the labelling prompt without the hint, AddressVLM §2.2, Fig. 3(b);
    ``prompts/alignment_question.txt``), not the builder's answer-only question.
    """
    question = templates.question.render(city=city)
    fields = task.fields(row, city)
    target = templates.target.render(**fields, reason=outcome.reason)
    return {
        "question": question,
        "answer": fields["answer"],
        "reason": outcome.reason,
        "label_source": outcome.label_source,
        "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": target}],
    }
