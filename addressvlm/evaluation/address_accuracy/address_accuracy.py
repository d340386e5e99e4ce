# Copyright 2025 The addressvlm contributors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Address accuracy: the AddressVLM address localization metrics (A_d, A_s, A_sd) with GeoReasoner's recall / F1."""

import functools
import re
import string
import unicodedata

import datasets
import evaluate


_CITATION = """\
@article{xu2025addressvlm,
  title   = {AddressVLM: Cross-view Alignment Tuning for Image Address Localization using Large Vision-Language
             Models},
  author  = {Xu, Shixiong and Zhang, Chenghao and Fan, Lubin and Zhou, Yuan and Fan, Bin and Xiang, Shiming and
             Meng, Gaofeng and Ye, Jieping},
  journal = {arXiv preprint arXiv:2508.10667},
  year    = {2025}
}
@inproceedings{li2024georeasoner,
  title     = {{G}eo{R}easoner: Geo-localization with Reasoning in Street Views using a Large Vision-Language Model},
  author    = {Li, Ling and Ye, Yu and Jiang, Bingchuan and Zeng, Wei},
  booktitle = {Proceedings of the 41st International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {235},
  pages     = {29222--29233},
  year      = {2024}
}
"""

_DESCRIPTION = """\
Image address localization accuracy as defined by AddressVLM (Xu et al., 2025). Every question asks for the district
or the street of a street-view image in one of three forms: generation (G, free text), judgement (J, Yes/No) or
multiple choice (M, four options A-D); a combined street-and-district generation question is scored separately
(A_sd, right only if both parts are right). The metric reports the accuracy of each level x type cell (A_d_G, A_d_J,
A_d_M, A_s_G, A_s_J, A_s_M), the level averages A_d and A_s, the overall A and A_sd, all in percent. Averages are
micro-averages over questions by default, which is what the paper's tables report (each judgement question is asked
twice, once with answer Yes and once with No, so it weighs twice); `average="macro"` gives the plain mean of the type
accuracies instead. Answers are compared after a documented normalisation (case, Unicode, punctuation, articles,
street-suffix abbreviations, "&"/"and"). GeoReasoner's (Li et al., 2024) recall (share of valid, parseable answers),
accuracy over the valid answers and their F1 are reported as well.
"""

_KWARGS_DESCRIPTION = """
Scores answers to address localization questions about street-view images.

Args:
    predictions (`list` of `str`):
        The model's answer to each question, as generated (`""` or `None` for a missing answer).
    references (`list` of `str`):
        What each answer is compared with: the district / street name for generation questions,
        `"{street}, {district}"` for `street_district` questions (split on the last comma), `"Yes"` / `"No"` for
        judgement questions and the correct option letter (`"A"`-`"D"`) for multiple-choice questions.
    levels (`list` of `str`):
        The address level of each question: `"district"`, `"street"` or `"street_district"`.
    question_types (`list` of `str`):
        The form of each question: `"generation"`, `"judgement"` or `"multiple_choice"`. `street_district` questions
        must be `"generation"`.
    options (`list` of `list` of `str`):
        The option texts of each multiple-choice question, in letter order (option A first). Required and non-empty
        for multiple-choice questions; pass `[]` for the other questions.
    average (`str`, *optional*, defaults to `"micro"`):
        How A_d, A_s and A are averaged. `"micro"`: over questions (A_d = correct district questions / all district
        questions, A = over all district and street questions); this reproduces the paper's tables. `"macro"`: the
        unweighted mean of the type accuracies that have questions (A_d = mean of A_d_G, A_d_J, A_d_M; A = mean of
        the six type accuracies).
    return_per_question (`bool`, *optional*, defaults to `False`):
        Also return the lists `correct` and `valid` (one boolean per question, in input order).

Returns:
    A dictionary with, all accuracies in percent (0-100, higher is better):
    - `A_d_G`, `A_d_J`, `A_d_M`, `A_d`: district accuracy per question type and averaged.
    - `A_s_G`, `A_s_J`, `A_s_M`, `A_s`: the same for streets.
    - `A`: over district and street questions (not street_district ones).
    - `A_sd`: street_district questions, right only if both the street and the district are right.
    - `n_<cell>` (`int`): the number of questions behind each of the ten cells above, e.g. `n_A_d_G`, `n_A`.
    - `n_valid_<cell>` (`int`): how many of them got a valid (parseable) answer.
    - `recall`, `accuracy_valid`, `f1`: GeoReasoner's metrics over the district and street questions: the share of
      valid answers, the accuracy among the valid answers and their harmonic mean.
    - `recall_sd`, `accuracy_valid_sd`, `f1_sd`: the same over the street_district questions.
    - `correct`, `valid` (`list` of `bool`): only with `return_per_question=True`.
    A cell without questions is `None`, not 0. `accuracy_valid` is `None` when no answer is valid (then `f1` is 0).

Examples:
    >>> address_accuracy = evaluate.load("evaluation/address_accuracy")
    >>> results = address_accuracy.compute(
    ...     predictions=["Downtown", "yes, it is", "(B) Forbes Ave", "forbes avenue, the strip district"],
    ...     references=["Downtown", "No", "B", "Forbes Ave, Strip District"],
    ...     levels=["district", "district", "street", "street_district"],
    ...     question_types=["generation", "judgement", "multiple_choice", "generation"],
    ...     options=[[], [], ["Liberty Ave", "Forbes Ave", "Penn Ave", "Smithfield St"], []],
    ... )
    >>> print(results["A_d_G"], results["A_d_J"], results["A_d"], results["A_s_M"], results["A"], results["A_sd"])
    100.0 0.0 50.0 100.0 66.66666666666667 100.0
    >>> print(results["A_d_M"], results["n_A_d_M"], results["n_A"])
    None 0 3
"""

LEVELS = ("district", "street", "street_district")
QUESTION_TYPES = ("generation", "judgement", "multiple_choice")
AVERAGES = ("micro", "macro")

_TYPE_CODES = {"generation": "G", "judgement": "J", "multiple_choice": "M"}
_LEVEL_CODES = {"district": "d", "street": "s"}
# The six level x type cells of the paper's tables, in table order, and the cells every aggregate covers.
TYPE_CELLS = tuple(f"A_{_LEVEL_CODES[lv]}_{_TYPE_CODES[qt]}" for lv in ("district", "street") for qt in QUESTION_TYPES)
AGGREGATES = {
    "A_d": ("A_d_G", "A_d_J", "A_d_M"),
    "A_s": ("A_s_G", "A_s_J", "A_s_M"),
    "A": TYPE_CELLS,
}
OUTPUT_CELLS = ("A_d_G", "A_d_J", "A_d_M", "A_d", "A_s_G", "A_s_J", "A_s_M", "A_s", "A", "A_sd")

# Words that mean the same in an address, mapped to one canonical (abbreviated) token. Applied to every token of both
# the prediction and the reference, so either spelling matches the other ("St. Clair Street" == "Saint Clair St").
_EQUIVALENT_WORDS = {
    "st": ("street", "str", "saint"),
    "ave": ("avenue", "av", "aven", "avn"),
    "blvd": ("boulevard", "boul", "blv"),
    "rd": ("road",),
    "dr": ("drive", "drv"),
    "ln": ("lane",),
    "pl": ("place",),
    "sq": ("square",),
    "ct": ("court",),
    "hwy": ("highway",),
    "pkwy": ("parkway", "pky"),
    "ter": ("terrace", "terr"),
    "aly": ("alley",),
    "cir": ("circle",),
    "cres": ("crescent",),
    "expy": ("expressway",),
    "fwy": ("freeway",),
    "plz": ("plaza",),
    "trl": ("trail",),
    "tpke": ("turnpike",),
    "brg": ("bridge",),
    "hts": ("heights",),
    "ctr": ("center", "centre"),
    "mt": ("mount",),
    "ft": ("fort",),
    "n": ("north",),
    "s": ("south",),
    "e": ("east",),
    "w": ("west",),
    "ne": ("northeast",),
    "nw": ("northwest",),
    "se": ("southeast",),
    "sw": ("southwest",),
    "1st": ("first",),
    "2nd": ("second",),
    "3rd": ("third",),
    "4th": ("fourth",),
    "5th": ("fifth",),
    "6th": ("sixth",),
    "7th": ("seventh",),
    "8th": ("eighth",),
    "9th": ("ninth",),
    "10th": ("tenth",),
    "11th": ("eleventh",),
    "12th": ("twelfth",),
    "13th": ("thirteenth",),
    "14th": ("fourteenth",),
    "15th": ("fifteenth",),
    "16th": ("sixteenth",),
    "17th": ("seventeenth",),
    "18th": ("eighteenth",),
    "19th": ("nineteenth",),
    "20th": ("twentieth",),
}
CANONICAL_WORDS = {form: canon for canon, forms in _EQUIVALENT_WORDS.items() for form in (canon, *forms)}
ARTICLES = frozenset({"a", "an", "the"})
# A trailing generic word that may follow a district name ("Strip District" == "Strip").
DISTRICT_WORDS = frozenset({"district", "neighborhood", "neighbourhood"})

# Answers that decline to name a place: not a valid answer for GeoReasoner's recall (nor a correct one).
_REFUSAL = re.compile(
    r"^(?:sorry\b|i\s*(?:'m|am)\s+(?:not\s+(?:sure|able)|unable|sorry)\b|i\s+(?:cannot|can\s*not|can't|could\s+not|"
    r"couldn't|don't|do\s+not)\b|(?:it\s+is|it's)\s+(?:not\s+possible|impossible|unclear|hard|difficult)\b|"
    r"(?:cannot|can't|unable\s+to)\s+(?:be\s+)?(?:determine|tell|identif|say|know)|not\s+sure\b|unknown\b|"
    r"unclear\b|none\b|n/a(?!\w)|no\s+(?:idea|answer|information)\b|there\s+is\s+no\b)",
    re.IGNORECASE,
)
_APOSTROPHES = re.compile("['\u2018\u2019\u02bc`\u00b4]")
# Combining diacritics of Latin, Greek and Cyrillic letters (after NFD), and emoji variation selectors / joiners.
_LATIN_ACCENTS = re.compile("[\u0300-\u036f]")
_INVISIBLE = re.compile("[\ufe00-\ufe0f\u200d\U000e0100-\U000e01ef]")
_LETTERS = string.ascii_uppercase
# "answer:", "the answer is", "the correct option is", "option", "choice", ... in front of the actual answer.
_ANSWER_PREFIX = re.compile(
    r"^(?:(?:the|my)\s+)?(?:(?:correct|final|right|best)\s+)?(?:answer|option|choice)\b\s*(?:is\b)?\s*[:-]?\s*",
    re.IGNORECASE,
)
_JUDGEMENT = re.compile(r"(yes|no)\b")
_JUDGEMENT_BOTH = re.compile(r"\s*(?:/|,?\s*or\b)\s*(?:yes|no)\b")
# Letter forms that may be followed by more text: "(B) ...", "[B] ...", "B. ...", "B) ...", "B: ...", "B".
_LETTER_BRACKETED = re.compile(r"^[(\[]\s*([a-z])\s*[)\]](.*)$", re.IGNORECASE | re.DOTALL)
_LETTER_DELIMITED = re.compile(r"^([a-z])(?:[.:)\]]|$)(.*)$", re.IGNORECASE | re.DOTALL)
# An upper-case letter followed by a space: only accepted when the rest is that option's own text ("B Forbes Ave").
_LETTER_SPACED = re.compile(r"^([A-Z])[\s,;-]+(.+)$", re.DOTALL)
# An option's text followed by its letter in brackets: "Forbes Ave (B)".
_TEXT_THEN_LETTER = re.compile(r"^(.+?)\s*[(\[]\s*([a-z])\s*[)\]]\s*[.!]?$", re.IGNORECASE | re.DOTALL)
# A second letter after the first one: "(A) (B)", "A. or B.", "A. B.", "A) and (B)", "A./B" (but not "B. I think").
_SECOND_LETTER = (
    re.compile(r"^(?:(?:or|and)\b|[/,&])?\s*[(\[]\s*[a-z]\s*[)\]]", re.IGNORECASE),
    re.compile(r"^(?:(?:or|and)\b|[/,&])\s*[A-Z](?=$|\W)"),
    re.compile(r"^[A-Z](?=$|[.,:;)/])"),
)
_SEPARATOR_IN = re.compile(r"\s+in\s+", re.IGNORECASE)
_SEPARATOR_DASH = re.compile(r"\s+[-\u2013\u2014]\s+")


@functools.lru_cache(maxsize=1 << 16)  # references and option texts repeat across questions
def normalize_address(text, level="street"):
    """Normalise an address string for comparison.

    The steps, in order: Unicode NFKC; case-folding; `&` becomes `and`; Latin diacritics are removed (`Hämeentie`
    -> `hameentie`); apostrophes (and emoji variation selectors) are deleted (`Mary's` -> `marys`); every other
    punctuation or symbol character becomes a space; the text is split on white space; each
    token is mapped to its canonical form (`street`/`st`/`str`/`saint` -> `st`, `avenue`/`av` -> `ave`, `north` ->
    `n`, `fifth` -> `5th`, ... see `CANONICAL_WORDS`); an article (`a`, `an`, `the`) is dropped when another token
    follows it (a final `A`, as in "Avenue A", is a name); at `level="district"` a trailing `district` /
    `neighborhood` / `neighbourhood` is dropped when other tokens remain.

    Args:
        text (`str` or `None`): The text to normalise. `None` counts as the empty string.
        level (`str`, *optional*, defaults to `"street"`): `"district"` enables the trailing-word rule.

    Returns:
        `str`: The normalised tokens joined by single spaces (empty if nothing is left).
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ")
    text = unicodedata.normalize("NFC", _LATIN_ACCENTS.sub("", unicodedata.normalize("NFD", text)))
    text = _INVISIBLE.sub("", _APOSTROPHES.sub("", text))
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    tokens = [CANONICAL_WORDS.get(token, token) for token in text.split()]
    tokens = [tok for i, tok in enumerate(tokens) if not (tok in ARTICLES and i + 1 < len(tokens))]
    if level == "district" and len(tokens) > 1 and tokens[-1] in DISTRICT_WORDS:
        tokens.pop()
    return " ".join(tokens)


def _strip_answer_prefix(text):
    """Removes leading wrappers ("**", quotes) and answer labels ("The answer is", "Option") from `text`."""
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip("*\"'`\u201c\u201d\u2018\u2019").strip()
        text = _ANSWER_PREFIX.sub("", text, count=1)
    return text


def parse_judgement(text):
    """Parses a judgement (Yes/No) answer.

    The answer must start with the word `yes` or `no` in any casing, possibly after leading punctuation or an answer
    label ("Answer: Yes", "The answer is no"); anything may follow ("Yes.", "yes, it is", "No - it is ..."). "Yes or
    no" / "yes/no" and anything else ("Yeah", "Y", "It is not") is not a valid answer.

    Args:
        text (`str` or `None`): The model's answer.

    Returns:
        `str` or `None`: `"yes"`, `"no"`, or `None` when the answer is not valid.
    """
    if not text:
        return None
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"^[\W_]+", "", _strip_answer_prefix(re.sub(r"^[\W_]+", "", text)))
    match = _JUDGEMENT.match(text)
    if match is None or _JUDGEMENT_BOTH.match(text, match.end()):
        return None
    return match.group(1)


def _match_option_text(text, normalized_options, level):
    """Index of the only option whose normalised text equals the normalised `text`; -1 if several, None if none."""
    normalized = normalize_address(text, level)
    if not normalized:
        return None
    hits = [i for i, option in enumerate(normalized_options) if option == normalized]
    if len(hits) > 1:
        return -1
    return hits[0] if hits else None


def parse_multiple_choice(text, options, level="street"):
    """Parses a multiple-choice answer into an option letter.

    Accepted, after optional leading wrappers and answer labels ("The answer is", "Answer:", "Option", "The correct
    option is"):
    - the letter alone or in its usual forms: `B`, `b`, `(B)`, `[B]`, `B.`, `B)`, `B:`;
    - a bracketed or delimited letter followed by text, e.g. `(B) Forbes Ave`, `B. Forbes Ave`, `B) ...`; the answer
      is invalid if that text is the text of a different option or names a second letter (`A or B`, `A/B`, `(A) (B)`);
    - an upper-case letter followed by a space and exactly that option's text (`B Forbes Ave`);
    - an option's text followed by its bracketed letter (`Forbes Ave (B)`); invalid if they name different options;
    - the text of one option alone, compared after `normalize_address` (`Forbes Avenue` for option `Forbes Ave`).
    An answer that matches several options, a letter without an option (`E` with four options) or anything else is
    not valid.

    Args:
        text (`str` or `None`): The model's answer.
        options (`list` of `str`): The option texts, option A first.
        level (`str`, *optional*, defaults to `"street"`): The question's level, for normalising option texts.

    Returns:
        `str` or `None`: The chosen letter (`"A"`, `"B"`, ...) or `None` when the answer is not valid.
    """
    if not text or not options:
        return None
    letters = _LETTERS[: len(options)]
    normalized_options = [normalize_address(option, level) for option in options]
    text = unicodedata.normalize("NFKC", text).strip()

    # The whole answer is the text of one option (checked first, so that an option such as "B Street" is not read as
    # the letter B), possibly behind an answer label.
    for candidate in (text, _strip_answer_prefix(text)):
        hit = _match_option_text(candidate, normalized_options, level)
        if hit == -1:
            return None
        if hit is not None:
            return letters[hit]

    text = _strip_answer_prefix(text)
    trailing = _TEXT_THEN_LETTER.match(text)  # "Forbes Ave (B)": an option's text, then its letter
    if trailing is not None and trailing.group(2).upper() in letters:
        hit = _match_option_text(trailing.group(1), normalized_options, level)
        if hit is not None:
            return trailing.group(2).upper() if hit == letters.index(trailing.group(2).upper()) else None
    match = _LETTER_BRACKETED.match(text) or _LETTER_DELIMITED.match(text)
    requires_own_text = False
    if match is None:
        match = _LETTER_SPACED.match(text)
        requires_own_text = True
    if match is None:
        return None
    letter = match.group(1).upper()
    if letter not in letters:
        return None
    rest = match.group(2).strip()
    if not rest:
        return letter
    hit = _match_option_text(rest, normalized_options, level)
    if hit is not None:
        # The text after the letter names an option: it must be the same one.
        return letter if hit == letters.index(letter) else None
    if requires_own_text or any(pattern.match(rest) for pattern in _SECOND_LETTER):
        return None
    return letter


def is_refusal(text):
    """Whether an answer declines to name a place ("I cannot tell", "Unknown", "Sorry, ...", "N/A").

    Args:
        text (`str` or `None`): The model's answer.

    Returns:
        `bool`: `True` for a refusal; such an answer is neither valid nor correct.
    """
    if not text:
        return False
    return _REFUSAL.match(_strip_answer_prefix(unicodedata.normalize("NFKC", text)).replace("\u2019", "'")) is not None


def split_street_district(text):
    """Splits a "street, district" answer into its two parts.

    The text is split on its last comma; without a comma, on the last " in " ("Forbes Ave in Oakland"), then on the
    last spaced dash ("Forbes Ave - Oakland"). Text without any separator is a street with no district.

    Args:
        text (`str` or `None`): The answer or reference.

    Returns:
        `tuple` of `str`: `(street, district)`, the district empty when there is no separator.
    """
    if not text:
        return "", ""
    text = unicodedata.normalize("NFKC", text)
    if "," in text:
        street, district = text.rsplit(",", 1)
        return street, district
    for separator in (_SEPARATOR_IN, _SEPARATOR_DASH):
        found = list(separator.finditer(text))
        if found:
            last = found[-1]
            return text[: last.start()], text[last.end() :]
    return text, ""


def _check_inputs(predictions, references, levels, question_types, options):
    """Raises a `ValueError` naming the offending index (and value) for malformed inputs."""
    lengths = {
        "predictions": len(predictions),
        "references": len(references),
        "levels": len(levels),
        "question_types": len(question_types),
        "options": len(options),
    }
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"All inputs must have the same length, got {described}.")
    for i, (reference, level, qtype, opts) in enumerate(zip(references, levels, question_types, options)):
        if level not in LEVELS:
            raise ValueError(f"Unknown level {level!r} at index {i}; expected one of {list(LEVELS)}.")
        if qtype not in QUESTION_TYPES:
            raise ValueError(f"Unknown question type {qtype!r} at index {i}; expected one of {list(QUESTION_TYPES)}.")
        if not isinstance(reference, str):
            raise ValueError(f"Reference at index {i} must be a string, got {reference!r}.")
        if level == "street_district":
            if qtype != "generation":
                raise ValueError(
                    f"street_district questions must be of type 'generation', got {qtype!r} at index {i}."
                )
            street, district = split_street_district(reference) if "," in reference else (reference, "")
            if not normalize_address(street) or not normalize_address(district, "district"):
                raise ValueError(
                    f"street_district reference at index {i} must be '{{street}}, {{district}}', got {reference!r}."
                )
        elif qtype == "generation":
            if not normalize_address(reference, level):
                what = "Generation reference without letters" if reference.strip() else "Empty generation reference"
                raise ValueError(f"{what} at index {i}: {reference!r} (no answer can match it).")
        elif qtype == "judgement":
            if reference.strip().casefold() not in ("yes", "no"):
                raise ValueError(f"Judgement reference at index {i} must be 'Yes' or 'No', got {reference!r}.")
        else:
            if not opts:
                raise ValueError(f"Multiple-choice question at index {i} has no options.")
            letter = reference.strip().upper()
            if len(letter) != 1 or letter not in "ABCD":
                raise ValueError(
                    f"Multiple-choice reference at index {i} must be an option letter A-D, got {reference!r}."
                )
            if _LETTERS.index(letter) >= len(opts):
                raise ValueError(
                    f"Multiple-choice reference {reference!r} at index {i} has no option: "
                    f"only {len(opts)} options were given."
                )


def score_question(prediction, reference, level, question_type, options=None):
    """Scores one (already validated) question.

    - generation: valid if the normalised prediction is not empty and not a refusal (`is_refusal`: "I cannot tell",
      "Unknown", ...); correct if it is valid and equals the normalised reference.
    - judgement: valid if `parse_judgement` reads yes or no; correct if that is the reference.
    - multiple_choice: valid if `parse_multiple_choice` reads a letter; correct if it is the reference letter.
    - street_district: both the prediction and the reference are split by `split_street_district`; valid if both
      parts of the prediction are non-empty after normalisation and it is not a refusal; correct if both parts equal
      the reference's.

    Args:
        prediction (`str` or `None`): The model's answer.
        reference (`str`): See the module's `references` input.
        level (`str`): `"district"`, `"street"` or `"street_district"`.
        question_type (`str`): `"generation"`, `"judgement"` or `"multiple_choice"`.
        options (`list` of `str`, *optional*): The options of a multiple-choice question.

    Returns:
        `tuple` of `bool`: `(correct, valid)`.
    """
    if level == "street_district":
        pred_street, pred_district = split_street_district(prediction)
        ref_street, ref_district = split_street_district(reference)
        pred_street, pred_district = normalize_address(pred_street), normalize_address(pred_district, "district")
        valid = bool(pred_street) and bool(pred_district) and not is_refusal(prediction)
        correct = (
            valid
            and pred_street == normalize_address(ref_street)
            and pred_district == normalize_address(ref_district, "district")
        )
        return correct, valid
    if question_type == "generation":
        normalized = normalize_address(prediction, level)
        valid = bool(normalized) and not is_refusal(prediction)
        return valid and normalized == normalize_address(reference, level), valid
    if question_type == "judgement":
        answer = parse_judgement(prediction)
        return answer is not None and answer == reference.strip().casefold(), answer is not None
    letter = parse_multiple_choice(prediction, options, level)
    return letter is not None and letter == reference.strip().upper(), letter is not None


def _percent(numerator, denominator):
    return 100.0 * numerator / denominator if denominator else None


def compute_address_accuracy(
    predictions, references, levels, question_types, options, average="micro", return_per_question=False
):
    """Computes the metric; `AddressAccuracy.compute` calls this. See the module's `_KWARGS_DESCRIPTION`."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {list(AVERAGES)}, got {average!r}.")
    options = [list(opts) if opts is not None else [] for opts in options]
    _check_inputs(predictions, references, levels, question_types, options)

    totals = {cell: [0, 0, 0] for cell in (*TYPE_CELLS, "A_sd")}  # questions, valid, correct
    correct_list, valid_list = [], []
    for prediction, reference, level, qtype, opts in zip(predictions, references, levels, question_types, options):
        correct, valid = score_question(prediction, reference, level, qtype, opts)
        cell = "A_sd" if level == "street_district" else f"A_{_LEVEL_CODES[level]}_{_TYPE_CODES[qtype]}"
        totals[cell][0] += 1
        totals[cell][1] += int(valid)
        totals[cell][2] += int(correct)
        correct_list.append(bool(correct))
        valid_list.append(bool(valid))

    for name, cells in AGGREGATES.items():
        totals[name] = [sum(totals[cell][k] for cell in cells) for k in range(3)]

    results = {}
    for cell in OUTPUT_CELLS:
        n, _, n_correct = totals[cell]
        if cell in AGGREGATES and average == "macro":
            accuracies = [_percent(totals[c][2], totals[c][0]) for c in AGGREGATES[cell]]
            accuracies = [acc for acc in accuracies if acc is not None]
            results[cell] = sum(accuracies) / len(accuracies) if accuracies else None
        else:
            results[cell] = _percent(n_correct, n)
    results.update({f"n_{cell}": totals[cell][0] for cell in OUTPUT_CELLS})
    results.update({f"n_valid_{cell}": totals[cell][1] for cell in OUTPUT_CELLS})

    for suffix, scope in (("", "A"), ("_sd", "A_sd")):
        n, n_valid, n_correct = totals[scope]
        recall = _percent(n_valid, n)
        accuracy_valid = _percent(n_correct, n_valid)
        if recall is None:
            f1 = None
        elif not accuracy_valid or not recall:
            f1 = 0.0
        else:
            f1 = 2 * accuracy_valid * recall / (accuracy_valid + recall)
        results[f"recall{suffix}"] = recall
        results[f"accuracy_valid{suffix}"] = accuracy_valid
        results[f"f1{suffix}"] = f1

    if return_per_question:
        results["correct"] = correct_list
        results["valid"] = valid_list
    return results


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AddressAccuracy(evaluate.Metric):
    """AddressVLM's address localization accuracy (A_d, A_s, A, A_sd) with GeoReasoner's recall and F1."""

    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                    "levels": datasets.Value("string"),
                    "question_types": datasets.Value("string"),
                    "options": datasets.Sequence(datasets.Value("string")),
                }
            ),
            homepage="https://arxiv.org/abs/2508.10667",
            license="apache-2.0",
            reference_urls=[
                "https://arxiv.org/abs/2508.10667",
                "https://proceedings.mlr.press/v235/li24ch.html",
            ],
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Check the types of the inputs (naming the index) before `evaluate`'s format check, then compute.

        A `None` prediction is a missing answer (scored like `""`); any other non-text input is an error.
        """
        if predictions is not None:
            predictions = ["" if value is None else value for value in predictions]
        columns = {"predictions": predictions, "references": references}
        columns.update({name: kwargs.get(name) for name in ("levels", "question_types")})
        for name, values in columns.items():
            for i, value in enumerate(values if values is not None else []):
                if not isinstance(value, str):
                    raise ValueError(f"{name}[{i}] must be a string, got {value!r}.")
        for i, opts in enumerate(kwargs.get("options") or []):
            if opts is not None and (isinstance(opts, str) or not all(isinstance(o, str) for o in opts)):
                raise ValueError(f"options[{i}] must be a list of strings, got {opts!r}.")
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(
        self, predictions, references, levels, question_types, options, average="micro", return_per_question=False
    ):
        """Returns the scores; see `_KWARGS_DESCRIPTION`."""
        return compute_address_accuracy(
            predictions, references, levels, question_types, options, average, return_per_question
        )
