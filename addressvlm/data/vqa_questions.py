"""Vectorised planning and wording of the street-view VQA questions (no per-row Python objects).

A *plan* lists, per question, the row (image) it belongs to, its level (district / street / street_district),
its type (generation / judgement / multiple_choice) and, for judgement, whether the asked name is the true
one. `plan_training` balances the three types 1:1:1 over the turns of each image; `plan_evaluation` asks
every evaluation question of each image (9: district G, J-yes, J-no, M; street G, J-yes, J-no, M; street and
district G). `render_questions` draws stems, distractors and option letters and writes the texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .distractors import nearest_names, sample_distinct
from .templates import (
    FIG10_PROMPTS,
    GENERATION_SUFFIX,
    JUDGEMENT_SUFFIX,
    LEVELS,
    MC_LETTERS,
    MULTIPLE_CHOICE_SUFFIX,
    QUESTION_TYPES,
    STEMS,
    STREET_DISTRICT_QUESTION,
)


__all__ = [
    "AddressCodes",
    "QuestionPlan",
    "RenderedQuestions",
    "feasible",
    "level_and_type_names",
    "plan_evaluation",
    "plan_training",
    "render_questions",
]

DISTRICT, STREET, STREET_DISTRICT = 0, 1, 2
GENERATION, JUDGEMENT, MULTIPLE_CHOICE = 0, 1, 2
_LEVELS_BY_TYPE = {
    GENERATION: (DISTRICT, STREET, STREET_DISTRICT),
    JUDGEMENT: (DISTRICT, STREET),
    MULTIPLE_CHOICE: (DISTRICT, STREET),
}
_EVALUATION_PLAN = (
    (DISTRICT, GENERATION, False),
    (DISTRICT, JUDGEMENT, True),
    (DISTRICT, JUDGEMENT, False),
    (DISTRICT, MULTIPLE_CHOICE, False),
    (STREET, GENERATION, False),
    (STREET, JUDGEMENT, True),
    (STREET, JUDGEMENT, False),
    (STREET, MULTIPLE_CHOICE, False),
    (STREET_DISTRICT, GENERATION, False),
)
_NEEDED_OTHERS = {JUDGEMENT: 1, MULTIPLE_CHOICE: 3}


@dataclass
class QuestionPlan:
    """Questions to ask, in row order then turn order.

    Args:
        row (`np.ndarray`):
            Index of the image (row of the split table) each question belongs to.
        level (`np.ndarray`):
            0 district, 1 street, 2 street_district.
        qtype (`np.ndarray`):
            0 generation, 1 judgement, 2 multiple_choice.
        yes (`np.ndarray`):
            For judgement: ask about the true name (answer Yes) or a distractor (answer No).
    """

    row: np.ndarray
    level: np.ndarray
    qtype: np.ndarray
    yes: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    def select(self, mask: np.ndarray) -> QuestionPlan:
        return QuestionPlan(self.row[mask], self.level[mask], self.qtype[mask], self.yes[mask])


@dataclass
class AddressCodes:
    """Integer codes of the addresses of a whole table, with the per-city name sets used for distractors.

    Args:
        names (`dict[int, np.ndarray]`):
            Level (0 district, 1 street) -> all names (object array), indexed by the global codes.
        codes (`dict[int, np.ndarray]`):
            Level -> global name code of each row.
        city (`np.ndarray`):
            City code of each row (all 0 for a one-city table).
        lat (`np.ndarray`):
            Latitude of each row (for nearby distractors).
        lon (`np.ndarray`):
            Longitude of each row.
    """

    names: dict[int, np.ndarray]
    codes: dict[int, np.ndarray]
    city: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __post_init__(self) -> None:
        self._city_names: dict[tuple[int, int], np.ndarray] = {}
        for level in (DISTRICT, STREET):
            for city in np.unique(self.city):
                self._city_names[(level, int(city))] = np.unique(self.codes[level][self.city == city])

    def names_in_city(self, level: int, city: int) -> np.ndarray:
        """Sorted global codes of the names of ``level`` present in ``city``."""
        return self._city_names.get((level, city), np.empty(0, np.int64))

    def count_in_city(self, level: int, city: np.ndarray) -> np.ndarray:
        """Number of distinct names of ``level`` in the city of each given city code."""
        n_cities = int(self.city.max()) + 1 if len(self.city) else 0
        lookup = np.array([len(self.names_in_city(level, c)) for c in range(n_cities)], dtype=np.int64)
        return lookup[np.asarray(city, dtype=np.int64)]

    def centroids(self, level: int, city: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean lat/lon of each name of ``level`` in ``city`` (order of `names_in_city`)."""
        in_city = self.city == city
        local = np.searchsorted(self.names_in_city(level, city), self.codes[level][in_city])
        count = np.bincount(local)
        lat = np.bincount(local, weights=self.lat[in_city]) / count
        lon = np.bincount(local, weights=self.lon[in_city]) / count
        return lat, lon


@dataclass
class RenderedQuestions:
    """The texts of a plan.

    Args:
        question (`np.ndarray`), answer (`np.ndarray`), reference (`np.ndarray`):
            One string per question (object arrays).
        option_counts (`np.ndarray`):
            Number of options of each question: 4 for multiple choice, else 0.
        option_values (`np.ndarray`):
            The option texts of all multiple-choice questions, flat, in question order.
    """

    question: np.ndarray
    answer: np.ndarray
    reference: np.ndarray
    option_counts: np.ndarray
    option_values: np.ndarray


def plan_training(rows: np.ndarray, turns: int, rng: np.random.Generator) -> QuestionPlan:
    """Plan ``turns`` questions per image with the three types balanced 1:1:1.

    Turn ``t`` of an image has type ``(r + t) mod 3`` for a random rotation ``r`` per image, so every block of
    three turns holds one question of each type. The ``k``-th question of a type takes the
    ``(o + k)``-th level of that type's levels (generation: district, street, street_district; judgement and
    multiple choice: district, street) for a random offset ``o`` per image and type, so levels do not repeat
    within an image before all were used. Judgement answers are Yes or No with probability 1/2.

    Args:
        rows (`np.ndarray`):
            Row indices of the images.
        turns (`int`):
            Questions per image (the paper's Table B2: 3).
        rng (`np.random.Generator`):
            Random generator.

    Returns:
        `QuestionPlan`: ``len(rows) * turns`` questions.
    """
    if turns < 1:
        raise ValueError(f"turns per image must be >= 1, got {turns}")
    n = len(rows)
    turn = np.arange(turns)
    rotation = rng.integers(0, 3, size=n)
    offsets = rng.integers(0, 6, size=(n, 3))  # 6 is divisible by both level counts (3 and 2)
    qtype = (rotation[:, None] + turn[None, :]) % 3
    occurrence = np.broadcast_to(turn // 3, (n, turns))
    level = np.empty((n, turns), dtype=np.int64)
    for type_code, levels in _LEVELS_BY_TYPE.items():
        mask = qtype == type_code
        position = (np.take_along_axis(offsets, qtype, axis=1) + occurrence) % len(levels)
        level[mask] = np.asarray(levels)[position[mask]]
    yes = rng.random((n, turns)) < 0.5
    return QuestionPlan(
        row=np.repeat(np.asarray(rows), turns),
        level=level.ravel(),
        qtype=qtype.ravel(),
        yes=yes.ravel(),
    )


def plan_evaluation(rows: np.ndarray) -> QuestionPlan:
    """Plan the 9 evaluation questions of each image (judgement asked once with Yes and once with No)."""
    n = len(rows)
    levels, types, yes = (np.asarray(column) for column in zip(*_EVALUATION_PLAN))
    return QuestionPlan(
        row=np.repeat(np.asarray(rows), len(_EVALUATION_PLAN)),
        level=np.tile(levels, n),
        qtype=np.tile(types, n),
        yes=np.tile(yes.astype(bool), n),
    )


def feasible(plan: QuestionPlan, codes: AddressCodes) -> np.ndarray:
    """Mask of the questions whose city has enough other names (1 for judgement-No, 3 for multiple choice)."""
    ok = np.ones(len(plan), dtype=bool)
    for level in (DISTRICT, STREET):
        for qtype, needed in _NEEDED_OTHERS.items():
            mask = (plan.level == level) & (plan.qtype == qtype)
            if qtype == JUDGEMENT:
                mask &= ~plan.yes
            if mask.any():
                count = codes.count_in_city(level, codes.city[plan.row[mask]])
                ok[np.flatnonzero(mask)] = count - 1 >= needed
    return ok


def _draw_others(
    codes: AddressCodes,
    level: int,
    rows: np.ndarray,
    k: int,
    rng: np.random.Generator,
    distractors: str,
    nearby_pool: int,
) -> np.ndarray:
    """Global codes of ``k`` distinct wrong names per row (see `addressvlm.data.distractors`)."""
    result = np.empty((len(rows), k), dtype=np.int64)
    row_city = codes.city[rows]
    for city in np.unique(row_city):
        in_city = np.flatnonzero(row_city == city)
        names = codes.names_in_city(level, int(city))
        local = np.searchsorted(names, codes.codes[level][rows[in_city]])
        if distractors == "random":
            picked = sample_distinct(rng, len(names), k, exclude=local)
        else:  # nearby
            neighbours = nearest_names(*codes.centroids(level, int(city)))
            pool = max(k, min(nearby_pool, len(names) - 1))
            position = sample_distinct(rng, np.full(len(local), pool), k)
            picked = neighbours[local[:, None], position]
        result[in_city] = names[picked]
    return result


def render_questions(
    plan: QuestionPlan,
    codes: AddressCodes,
    rng: np.random.Generator,
    distractors: str = "random",
    nearby_pool: int = 8,
    mc_answer: str = "letter",
    generation_prompts: str = "templates",
) -> RenderedQuestions:
    """Write the question, answer, reference and options of every planned question.

    Args:
        plan (`QuestionPlan`):
            Feasible questions (see `feasible`).
        codes (`AddressCodes`):
            Addresses of the table.
        rng (`np.random.Generator`):
            Random generator (stems, distractors, option letters).
        distractors (`str`, *optional*, defaults to ``"random"``):
            ``random`` or ``nearby`` (see `addressvlm.data.distractors`).
        nearby_pool (`int`, *optional*, defaults to 8):
            For ``nearby``: how many nearest other names to draw from.
        mc_answer (`str`, *optional*, defaults to ``"letter"``):
            Multiple-choice training target: ``letter`` ("B") or ``letter_text`` ("(B) Kluuvi"). The
            ``reference`` is always the letter.
        generation_prompts (`str`, *optional*, defaults to ``"templates"``):
            District/street generation questions from the Table B4 stems (``templates``) or the Fig. 10 prompts
            (``fig10``).

    Returns:
        `RenderedQuestions`.
    """
    if distractors not in ("random", "nearby"):
        raise ValueError(f"distractors must be 'random' or 'nearby', got {distractors!r}")
    if mc_answer not in ("letter", "letter_text"):
        raise ValueError(f"mc_answer must be 'letter' or 'letter_text', got {mc_answer!r}")
    if generation_prompts not in ("templates", "fig10"):
        raise ValueError(f"generation_prompts must be 'templates' or 'fig10', got {generation_prompts!r}")
    n = len(plan)
    question = np.empty(n, dtype=object)
    answer = np.empty(n, dtype=object)
    reference = np.empty(n, dtype=object)
    option_matrix = np.empty((n, 4), dtype=object)
    stem_index = rng.integers(0, 10, size=n)
    for level in (DISTRICT, STREET):
        level_name = LEVELS[level]
        names = codes.names[level]
        stems = np.asarray(STEMS[level_name], dtype=object)
        true_names = names[codes.codes[level][plan.row]]
        # generation
        mask = (plan.level == level) & (plan.qtype == GENERATION)
        if generation_prompts == "fig10":
            question[mask] = FIG10_PROMPTS[level_name]
        else:
            question[mask] = stems[stem_index[mask]] + (" " + GENERATION_SUFFIX)
        answer[mask] = true_names[mask]
        reference[mask] = true_names[mask]
        # judgement
        mask = (plan.level == level) & (plan.qtype == JUDGEMENT)
        index = np.flatnonzero(mask)
        asked = true_names[index].copy()
        no = ~plan.yes[index]
        if no.any():
            asked[no] = names[_draw_others(codes, level, plan.row[index[no]], 1, rng, distractors, nearby_pool)[:, 0]]
        suffix = JUDGEMENT_SUFFIX[level_name]
        question[index] = [f"{stem} {suffix.format(name=name)}" for stem, name in zip(stems[stem_index[index]], asked)]
        answer[index] = np.where(no, "No", "Yes")
        reference[index] = answer[index]
        # multiple choice
        index = np.flatnonzero((plan.level == level) & (plan.qtype == MULTIPLE_CHOICE))
        if len(index):
            wrong = _draw_others(codes, level, plan.row[index], 3, rng, distractors, nearby_pool)
            position = rng.integers(0, 4, size=len(index))
            slot = np.arange(4)[None, :] == position[:, None]
            option_codes = np.empty((len(index), 4), dtype=np.int64)
            option_codes[slot] = codes.codes[level][plan.row[index]]
            option_codes[~slot] = wrong.ravel()
            option_matrix[index] = names[option_codes]
            option_names = option_matrix[index].tolist()
            letters = np.asarray(MC_LETTERS, dtype=object)[position]
            question[index] = [
                f"{stem} " + MULTIPLE_CHOICE_SUFFIX.format(level=level_name, a=o[0], b=o[1], c=o[2], d=o[3])
                for stem, o in zip(stems[stem_index[index]], option_names)
            ]
            if mc_answer == "letter":
                answer[index] = letters
            else:
                answer[index] = [f"({letter}) {o[p]}" for letter, o, p in zip(letters, option_names, position)]
            reference[index] = letters
    mask = plan.level == STREET_DISTRICT
    combined = codes.names[STREET][codes.codes[STREET][plan.row[mask]]] + ", "
    combined = combined + codes.names[DISTRICT][codes.codes[DISTRICT][plan.row[mask]]]
    question[mask] = STREET_DISTRICT_QUESTION
    answer[mask] = combined
    reference[mask] = combined
    is_mc = plan.qtype == MULTIPLE_CHOICE
    return RenderedQuestions(
        question=question,
        answer=answer,
        reference=reference,
        option_counts=np.where(is_mc, 4, 0),
        option_values=option_matrix[is_mc].ravel(),
    )


def level_and_type_names(plan: QuestionPlan) -> tuple[np.ndarray, np.ndarray]:
    """The level and type of each question as strings (object arrays)."""
    return np.asarray(LEVELS, dtype=object)[plan.level], np.asarray(QUESTION_TYPES, dtype=object)[plan.qtype]
