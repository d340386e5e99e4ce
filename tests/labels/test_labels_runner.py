"""The labelling loop: retries with new seeds, fallback, failures and resuming from the cache."""

from __future__ import annotations

import pytest

from addressvlm.labels.cache import LabelCache
from addressvlm.labels.runner import GenerationSettings, LabelItem, LabelRunner
from addressvlm.labels.validation import LabelValidator


STREETS = ["Forbes Ave", "Penn Ave", "Atwood St", "Fifth Ave"]


@pytest.fixture
def items(tmp_path):
    from PIL import Image

    out = []
    for i, street in enumerate(STREETS):
        image = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(image)
        prompt = f"Explain: the street view was taken on {street}, in the district Downtown."
        fallback = f"Templated: {street} in Downtown."
        out.append(LabelItem(f"row{i}", str(image), prompt, {"street": street, "district": "Downtown"}, fallback))
    return out


@pytest.fixture
def validator():
    return LabelValidator({"street": STREETS, "district": ["Downtown", "Oakland"]})


def behaviour(kit, plan: dict[str, list[str | None]]):
    """Script: per street, the replies of successive attempts ("good", "bad", "other", None = failure)."""
    seen: dict[str, int] = {}

    def script(request, _):
        street = kit.street_of(request.prompt)
        step = plan.get(street, ["good"])
        kind = step[min(seen.get(street, 0), len(step) - 1)]
        seen[street] = seen.get(street, 0) + 1
        if kind is None:
            return None
        if kind == "bad":
            return f"It was taken on {street}."  # no district
        if kind == "other":
            return "This image was taken on Penn Ave in Downtown."
        return kit.good_label(request.prompt)

    return script


def test_retries_use_new_seeds_then_fall_back(items, validator, labels_kit):
    kit = labels_kit
    plan = {"Forbes Ave": ["good"], "Penn Ave": ["bad", "good"], "Atwood St": ["other"], "Fifth Ave": [None]}
    backend = kit.ScriptedBackend(behaviour(kit, plan), batch_size=3)
    settings = GenerationSettings(temperature=0.0, seed=7, label_retries=2, retry_temperature=0.8)
    outcomes, report = LabelRunner(backend, validator, settings, progress=False).run(items)

    assert [o.status for o in outcomes] == ["model", "model", "fallback", "failed"]
    assert outcomes[2].reason == "Templated: Atwood St in Downtown." and outcomes[2].label_source == "template"
    assert outcomes[3].label_source == "template" and outcomes[3].error == "scripted failure"
    assert (report.model, report.retried, report.fallen_back, report.failed, report.done) == (2, 2, 1, 1, 3)
    expected = {"missing_district": 1, "missing_street": 3, "other_street_first": 3, "other_street_claimed": 3}
    assert report.problems == expected
    atwood = [(r.temperature, r.seed) for r in backend.calls if "Atwood" in r.prompt]
    assert atwood == [(0.0, 7), (0.8, 8), (0.8, 9)]  # 1 + label_retries attempts, each with a new seed
    assert report.attempts == 1 + 2 + 3  # the failed request is not an attempt
    assert report.failures == [{"id": "row3", "error": "scripted failure"}]


def test_resume_skips_finished_items_and_continues_after_recorded_attempts(tmp_path, items, validator, labels_kit):
    kit = labels_kit
    cache_path = tmp_path / "cache.jsonl"
    settings = GenerationSettings(label_retries=2)
    plan = {"Penn Ave": ["bad", "bad", "good"], "Fifth Ave": [None]}
    first = kit.ScriptedBackend(behaviour(kit, plan), batch_size=4)
    with LabelCache(cache_path) as cache:
        _, report = LabelRunner(first, validator, settings, cache, progress=False).run(items)
    assert report.failed == 1 and report.model == 3

    # Simulate a kill after Penn Ave's first attempt: drop its later records from the cache.
    lines = cache_path.read_text().splitlines()
    penn = [i for i, line in enumerate(lines) if '"id":"row1"' in line]
    cache_path.write_text("\n".join(line for i, line in enumerate(lines) if i not in penn[1:]) + "\n")

    second = kit.ScriptedBackend(behaviour(kit, {"Penn Ave": ["good"]}), batch_size=4)
    with LabelCache(cache_path) as cache:
        outcomes, report = LabelRunner(second, validator, settings, cache, progress=False).run(items)
    assert [o.status for o in outcomes] == ["model"] * 4
    assert sorted(kit.street_of(r.prompt) for r in second.calls) == ["Fifth Ave", "Penn Ave"]
    penn_call = next(r for r in second.calls if "Penn" in r.prompt)
    assert penn_call.seed == settings.seed + 1  # continued at attempt 1, not from scratch
    assert (report.from_cache, report.reused_attempts, report.attempts) == (2, 1, 2)
    assert outcomes[1].attempts == 2 and report.retried == 1

    third = kit.ScriptedBackend(behaviour(kit, {}), batch_size=4)
    with LabelCache(cache_path) as cache:
        _, report = LabelRunner(third, validator, settings, cache, progress=False).run(items)
    assert third.calls == [] and report.from_cache == 4 and report.model == 4


def test_fallback_only_needs_no_backend(items, validator):
    outcomes, report = LabelRunner(None, validator, progress=False).run(items)
    assert all(o.status == "template_only" and o.label_source == "template" for o in outcomes)
    assert outcomes[0].reason == items[0].fallback
    assert (report.template_only, report.done, report.attempts) == (4, 4, 0)


def test_missing_image_names_the_row(items, validator, labels_kit):
    kit = labels_kit
    broken = [*items[:1], items[1].__class__(**{**items[1].__dict__, "image": "/nonexistent/x.png"})]
    with pytest.raises(FileNotFoundError, match="row1.*nonexistent"):
        LabelRunner(kit.ScriptedBackend(behaviour(kit, {})), validator, progress=False).run(broken)
