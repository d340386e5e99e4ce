"""``addressvlm experiment``: a grid of quickstart-scale runs (arm x seed), resumable, summarised with mean ± sd and
paired differences against a reference arm.

A grid is a YAML file (``recipes/experiments/``)::

    seeds: [0, 1, 2, 3, 4]
    split: test                # or validation, for choosing settings
    reference: baseline        # paired differences are arm - reference, seed by seed
    reading_probe: true        # measure whether each stage-1 model reads street names off the tile
    quickstart: {}             # QuickstartOptions overrides: locations, image_size, stage1_epochs, stage2_epochs ...
    stage2: []                 # recipe flags added to stage 2 of every arm (both arms get the same ones)
    arms:
      baseline: {}                                  # stage 2 from the base model
      addressvlm: {stage1: {}}                      # stage 1 on labelled tiles (delta 0.5, labels with reasons)
      unlabelled: {stage1: {satellite: unlabeled}}  # Table 3's "satellite w/o road"
      delta_0.3: {stage1: {delta: 0.3}}
      no_reasons: {stage1: {reasons: false}}        # stage-1 targets "Street, District" without the reason

Each seed gets its own city, split, base model and training order (shared by its arms); arms with the same stage-1
data and training share that stage-1 run. Every finished run writes ``seeds/<seed>/arms/<arm>/row.json``; re-running
skips those, so a killed grid resumes. ``--jobs N`` runs N seeds at once, each in its own process with the
quickstart's fixed thread count (results do not depend on N). The summary is ``results.md`` / ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from addressvlm.utils.io import atomic_write_text, write_json
from addressvlm.utils.options import add_command, option, options_from


__all__ = [
    "ArmSpec",
    "ExperimentOptions",
    "GridSpec",
    "compare_quickstarts",
    "judgement_consistency",
    "load_grid",
    "register",
    "run_grid",
    "run_seed",
    "summarise",
]

COLUMNS = ("A_d_G", "A_d_J", "A_d_M", "A_d", "A_s_G", "A_s_J", "A_s_M", "A_s", "A", "A_sd")
HEADERS = ("A_d^G", "A_d^J", "A_d^M", "Ā_d", "A_s^G", "A_s^J", "A_s^M", "Ā_s", "Ā", "A_sd")
STAGE1_KEYS = {"satellite": ("labeled", "unlabeled"), "delta": float, "reasons": bool, "epochs": float}
# Judgement counts as learnt when both levels beat chance (50 %) clearly.
JUDGEMENT_LEARNT = 60.0


@dataclass(frozen=True)
class ArmSpec:
    """One arm of a grid.

    Args:
        name (`str`): its name in the tables.
        stage1 (`dict`, *optional*): stage-1 settings (``satellite``, ``delta``, ``reasons``, ``epochs``); `None`
            for no stage 1.
        stage2 (`tuple[str, ...]`): extra stage-2 recipe flags of this arm only.
        seeds (`tuple[int, ...]`, *optional*): run this arm on these of the grid's seeds only (e.g. ablations on
            3 of the 5 seeds of the main comparison).
    """

    name: str
    stage1: dict | None = None
    stage2: tuple[str, ...] = ()
    seeds: tuple[int, ...] | None = None

    @property
    def stage1_key(self) -> str | None:
        """A folder name for this arm's stage-1 data and run (arms with equal settings share them)."""
        if self.stage1 is None:
            return None
        s = {"satellite": "labeled", "delta": 0.5, "reasons": True, **self.stage1}
        key = f"{s['satellite']}-d{s['delta']:g}-{'reasons' if s['reasons'] else 'answers'}"
        return key + (f"-e{s['epochs']:g}" if "epochs" in s else "")


@dataclass
class GridSpec:
    """A parsed grid file (see the module docstring)."""

    arms: list[ArmSpec]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    split: str = "test"
    reference: str = "baseline"
    reading_probe: bool = False
    quickstart: dict = field(default_factory=dict)
    stage2: list[str] = field(default_factory=list)


def load_grid(path: str | os.PathLike) -> GridSpec:
    """Read and check a grid file; errors name the file and the key."""
    import yaml

    from .quickstart import QuickstartOptions

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"grid file {path} does not exist")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    allowed = {"arms", "seeds", "split", "reference", "reading_probe", "quickstart", "stage2"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    if not isinstance(raw.get("arms"), dict) or not raw["arms"]:
        raise ValueError(f"{path}: 'arms' must map arm names to settings")
    options = {f.name for f in fields(QuickstartOptions)} - {"output", "seed"}
    bad = sorted(set(raw.get("quickstart") or {}) - options)
    if bad:
        raise ValueError(f"{path}: quickstart: unknown option(s) {bad}; allowed: {sorted(options)}")
    arms = []
    for name, spec in raw["arms"].items():
        spec = spec or {}
        extra = sorted(set(spec) - {"stage1", "stage2", "seeds"})
        if extra:
            raise ValueError(f"{path}: arms.{name}: unknown key(s) {extra}; allowed: stage1, stage2, seeds")
        stage1 = spec.get("stage1")
        if stage1 is not None:
            stage1 = dict(stage1)
            for key, value in stage1.items():
                rule = STAGE1_KEYS.get(key)
                if rule is None:
                    raise ValueError(f"{path}: arms.{name}.stage1.{key} is unknown; allowed: {sorted(STAGE1_KEYS)}")
                if isinstance(rule, tuple) and value not in rule:
                    raise ValueError(f"{path}: arms.{name}.stage1.{key} must be one of {rule}, got {value!r}")
                if rule is bool and not isinstance(value, bool):
                    raise ValueError(f"{path}: arms.{name}.stage1.{key} must be true or false, got {value!r}")
                if rule is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise ValueError(f"{path}: arms.{name}.stage1.{key} must be a number, got {value!r}")
        seeds = spec.get("seeds")
        arms.append(
            ArmSpec(
                str(name),
                stage1,
                tuple(str(v) for v in spec.get("stage2") or ()),
                tuple(int(s) for s in seeds) if seeds is not None else None,
            )
        )
    grid = GridSpec(
        arms=arms,
        seeds=[int(s) for s in raw.get("seeds", [0, 1, 2])],
        split=str(raw.get("split", "test")),
        reference=str(raw.get("reference", "baseline")),
        reading_probe=bool(raw.get("reading_probe", False)),
        quickstart=dict(raw.get("quickstart") or {}),
        stage2=[str(v) for v in raw.get("stage2") or []],
    )
    if grid.reference not in {arm.name for arm in arms}:
        raise ValueError(f"{path}: reference {grid.reference!r} is not an arm ({[a.name for a in arms]})")
    for arm in arms:
        if arm.seeds is not None and not set(arm.seeds) <= set(grid.seeds):
            raise ValueError(f"{path}: arms.{arm.name}.seeds {list(arm.seeds)} are not all among seeds {grid.seeds}")
    if grid.split not in ("test", "validation"):
        raise ValueError(f"{path}: split must be test or validation, got {grid.split!r}")
    return grid


# --------------------------------------------------------------------------------------------------- one seed
def _stage1(space, options, arm: ArmSpec, quiet: list[str]) -> Path:
    """Build (once) the arm's stage-1 set and train (once) its stage-1 model; return the model folder."""
    from .quickstart import _cli, _recipe, recipe_args

    key = arm.stage1_key
    spec = {"satellite": "labeled", "delta": 0.5, "reasons": True, **arm.stage1}
    model = space.out / "stage1" / key / "model"
    if (model / "train_results.json").is_file():
        return model
    data = space.out / "stage1" / key / "data"
    if (spec["satellite"], spec["delta"], spec["reasons"]) == ("labeled", 0.5, True):
        data = space.labelled  # the quickstart's own stage-1 set
    elif not (data / "build_info.json").is_file():
        grafted = space.out / "stage1" / key / "grafted"
        if not (grafted / "build_info.json").is_file():
            _cli("data", "build-alignment", space.city / "metadata.csv", "--output", grafted, "--vqa-dataset",
                 space.vqa, "--seed", options.seed, "--satellite", spec["satellite"], "--delta", spec["delta"],
                 "--overwrite", *quiet)  # fmt: skip
        if spec["reasons"]:
            _cli("data", "label-alignment", grafted, "-o", data, "--fallback-only", "--overwrite", *quiet)
        else:
            data = grafted  # answer-only targets: "Street, District"
    epochs = spec.get("epochs", options.stage1_epochs)
    _recipe(1, model.parent / "stage1.log", "--model_name_or_path", space.base, "--dataset_paths", data,
            "--output_dir", model, "--num_train_epochs", epochs, *recipe_args(options),
            backbone=options.backbone)  # fmt: skip
    return model


def run_seed(grid: GridSpec, out: str | os.PathLike, seed: int) -> list[dict]:
    """Run every arm of one seed (skipping finished ones) and return their rows."""
    from .quickstart import QuickstartOptions, _evaluate, _recipe, _Steps, prepare, recipe_args

    options = QuickstartOptions(output=Path(out) / "seeds" / str(seed), seed=seed, **grid.quickstart)
    quiet = [] if options.progress else ["--no-progress"]
    space = prepare(options, _Steps(total=5))
    rows = []
    for arm in grid.arms:
        if arm.seeds is not None and seed not in arm.seeds:
            continue
        folder = space.out / "arms" / arm.name
        row_file = folder / "row.json"
        if row_file.is_file():
            rows.append(json.loads(row_file.read_text()))
            continue
        began = time.monotonic()
        start = ["--init_from", "", "--model_name_or_path", space.base]
        if arm.stage1 is not None:
            start = ["--init_from", _stage1(space, options, arm, quiet)]
        stage2 = folder / "stage2"
        if not (stage2 / "train_results.json").is_file():
            _recipe(2, folder / "stage2.log", *start, "--dataset_paths", space.vqa, "--output_dir", stage2,
                    "--num_train_epochs", options.stage2_epochs, *recipe_args(options), *grid.stage2,
                    *arm.stage2, backbone=options.backbone)  # fmt: skip
        evaluation = folder / f"eval_{grid.split}"
        if not (evaluation / "metrics.json").is_file():
            _evaluate(options, stage2, space.vqa, evaluation, arm.name, split=grid.split)
        metrics = json.loads((evaluation / "metrics.json").read_text())
        row = {"seed": seed, "arm": arm.name, "split": grid.split, **{c: metrics.get(c) for c in COLUMNS}}
        row["stage1"] = arm.stage1_key
        row["judgement_learnt"] = bool(
            (metrics.get("A_d_J") or 0) >= JUDGEMENT_LEARNT and (metrics.get("A_s_J") or 0) >= JUDGEMENT_LEARNT
        )
        history = json.loads((stage2 / "trainer_state.json").read_text())["log_history"]
        fractions = [e["padding_fraction"] for e in history if "padding_fraction" in e]
        row["padding_fraction"] = sum(fractions) / len(fractions) if fractions else None
        row["seconds"] = round(time.monotonic() - began, 1)
        write_json(row_file, row)
        rows.append(row)
    if grid.reading_probe:
        _reading(grid, space, options)
    return rows


def _reading(grid: GridSpec, space, options) -> None:
    """The reading probe (`addressvlm.inference.reading`) of the base model and of every stage-1 model."""
    from addressvlm.data import load_address_dataset
    from addressvlm.inference.reading import reading_images, reading_probe
    from addressvlm.models import load_pretrained

    target = space.out / f"reading_{grid.split}.json"
    if target.is_file():
        return
    question = load_address_dataset(str(space.labelled))["train"][0]["question"]  # stage 1's training question
    probes = reading_images(space.city / "metadata.csv", space.vqa, split=grid.split)
    report = {"question": question, "locations": len(probes), "models": {}}
    models = {"base": space.base}
    for arm in grid.arms:
        if arm.stage1 is not None and (space.out / "stage1" / arm.stage1_key / "model").is_dir():
            models[f"stage1 {arm.stage1_key}"] = space.out / "stage1" / arm.stage1_key / "model"
    for name, folder in models.items():
        model, processor = load_pretrained(folder)
        report["models"][name] = reading_probe(model.eval(), processor, probes, question)
    write_json(target, report)


# --------------------------------------------------------------------------------------------------- summary
def judgement_consistency(predictions: str | os.PathLike) -> float | None:
    """Does a model's Yes/No follow its own answer? The share of Yes when the asked name is the name the model
    generated for the same image and level, minus the share of Yes when it is another name (in points).

    A model that has learnt judgement says Yes to its own answer and No to others (about +40 to +50 in the
    miniature); one that answers Yes/No without comparing the name scores near 0 even when it names the place well.
    `None` when ``predictions`` (an ``addressvlm eval`` ``predictions.jsonl``) has no such pairs.
    """
    from addressvlm.data.templates import JUDGEMENT_SUFFIX

    patterns = [re.compile(re.escape(suffix).replace(re.escape("{name}"), "(.+)") + "$")
                for suffix in JUDGEMENT_SUFFIX.values()]  # fmt: skip
    records = [json.loads(line) for line in Path(predictions).read_text().splitlines() if line.strip()]
    own = {(r["id"], r["level"]): r["prediction"].strip() for r in records if r["type"] == "generation"}
    yes: dict[bool, list[bool]] = {True: [], False: []}
    for r in records:
        match = next((m for p in patterns if (m := p.search(r["question"]))), None)
        if r["type"] == "judgement" and match and (r["id"], r["level"]) in own:
            yes[match.group(1) == own[(r["id"], r["level"])]].append(r["prediction"].strip().lower() == "yes")
    if not yes[True] or not yes[False]:
        return None
    return 100 * (statistics.fmean(yes[True]) - statistics.fmean(yes[False]))


def _mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


def summarise(grid: GridSpec, out: str | os.PathLike) -> str:
    """Write ``results.md`` and ``results.json`` from the finished rows; return the markdown."""
    out = Path(out)
    files = [out / "seeds" / str(seed) / "arms" / arm.name / "row.json" for seed in grid.seeds for arm in grid.arms]
    rows = [json.loads(file.read_text()) for file in files if file.is_file()]
    by = {(r["arm"], r["seed"]): r for r in rows}
    lines = [f"# Grid on the {grid.split} split ({len(rows)} runs)", ""]
    lines += ["| Arm | seeds | " + " | ".join(HEADERS) + " | J learnt | padding |"]
    lines += ["|---|---:|" + "---:|" * (len(HEADERS) + 2)]
    for arm in grid.arms:
        own = [by[(arm.name, s)] for s in grid.seeds if (arm.name, s) in by]
        if not own:
            continue
        cells = [_mean_sd([r[c] for r in own]) for c in COLUMNS]
        learnt = sum(r["judgement_learnt"] for r in own)
        padding = _mean_sd([100 * r["padding_fraction"] for r in own if r.get("padding_fraction") is not None])
        lines.append(f"| {arm.name} | {len(own)} | " + " | ".join(cells) + f" | {learnt}/{len(own)} | {padding} % |")
    lines += ["", f"Paired differences, arm − {grid.reference}, over the seeds both finished (mean ± sd; wins):", ""]
    lines += ["| Arm | pairs | " + " | ".join(HEADERS) + " |", "|---|---:|" + "---:|" * len(HEADERS)]
    paired: dict[str, Any] = {}
    for arm in grid.arms:
        if arm.name == grid.reference:
            continue
        seeds = [s for s in grid.seeds if (arm.name, s) in by and (grid.reference, s) in by]
        if not seeds:
            continue
        cells = []
        paired[arm.name] = {}
        for column in COLUMNS:
            diffs = [by[(arm.name, s)][column] - by[(grid.reference, s)][column] for s in seeds]
            wins = sum(d > 0 for d in diffs)
            paired[arm.name][column] = {"diffs": diffs, "wins": wins}
            cells.append(f"{_mean_sd(diffs)} ({wins}/{len(diffs)})")
        lines.append(f"| {arm.name} | {len(seeds)} | " + " | ".join(cells) + " |")
    lines += ["", "Per run (J consistency: `judgement_consistency` of the run's predictions, in points):", ""]
    lines += ["| Arm | seed | " + " | ".join(HEADERS) + " | J learnt | J consistency |"]
    lines += ["|---|---:|" + "---:|" * (len(HEADERS) + 2)]
    for arm in grid.arms:
        for seed in grid.seeds:
            row = by.get((arm.name, seed))
            if row:
                values = " | ".join("-" if row[c] is None else f"{row[c]:.2f}" for c in COLUMNS)
                run = out / "seeds" / str(seed) / "arms" / arm.name
                predictions = run / f"eval_{grid.split}" / "predictions.jsonl"
                gap = judgement_consistency(predictions) if predictions.is_file() else None
                gap = "-" if gap is None else f"{gap:+.0f}"
                learnt = "yes" if row["judgement_learnt"] else "no"
                lines.append(f"| {arm.name} | {seed} | {values} | {learnt} | {gap} |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "results.md", text)
    write_json(out / "results.json", {"split": grid.split, "rows": rows, "paired": paired})
    return text


QUICKSTART_PAIRS = (
    ("AddressVLM (stage 1 + stage 2)", "Baseline (stage 2 only)"),
    ("Zero-shot + RAG", "Zero-shot (tiny random model)"),
    ("Baseline + RAG", "Baseline (stage 2 only)"),
    ("AddressVLM + RAG", "AddressVLM (stage 1 + stage 2)"),
    ("Baseline (stage 2 only)", "k-NN retrieval (EfficientNet-Lite0, k=8)"),
)
"""(row, reference) titles of `compare_quickstarts`' paired differences: the method, and retrieval for each model."""


def compare_quickstarts(folders: list[str | os.PathLike], pairs=QUICKSTART_PAIRS) -> str:
    """Mean ± sd over seeds and paired differences of finished ``addressvlm quickstart`` runs (one per seed).

    Args:
        folders (`list`): quickstart output folders, each with its ``comparison.json``.
        pairs (`Sequence[tuple[str, str]]`, *optional*, defaults to `QUICKSTART_PAIRS`): (row, reference) titles
            whose per-seed differences are tabled; pairs with a missing row are left out.

    Returns:
        `str`: markdown (per-row means, paired differences with wins, per-seed rows).

    Raises:
        `FileNotFoundError`: a folder has no ``comparison.json`` (the run has not finished).
        `ValueError`: two folders hold the same seed, or the runs differ in a setting other than the seed.
    """
    runs = []
    for folder in folders:
        file = Path(folder) / "comparison.json"
        if not file.is_file():
            raise FileNotFoundError(f"{file} does not exist: the quickstart in {folder} has not finished")
        runs.append(json.loads(file.read_text()))
    seeds = [run["settings"]["seed"] for run in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the folders {list(map(str, folders))} repeat a seed ({seeds}): one run per seed")
    # settings that leave the shared rows unchanged: the seed, where and how it ran, and options that only add rows
    ignore = {"seed", "output", "progress", "side_by_side", "rag_training", "georeasoner", "georeasoner_epochs"}
    settings = [{k: v for k, v in run["settings"].items() if k not in ignore} for run in runs]
    for folder, other in zip(folders[1:], settings[1:]):
        changed = sorted(k for k in settings[0] if settings[0][k] != other.get(k))
        if changed:
            raise ValueError(f"{folder} differs from {folders[0]} in {changed}: only the seed may differ")
    titles = [t for t in runs[0]["rows"] if all(t in run["rows"] for run in runs)]
    lines = [f"# Quickstart over seeds {', '.join(map(str, seeds))}", ""]
    lines += ["| Method | seeds | " + " | ".join(HEADERS) + " |", "|---|---:|" + "---:|" * len(HEADERS)]
    for title in titles:
        cells = [_mean_sd([run["rows"][title].get(c) for run in runs]) for c in COLUMNS]
        lines.append(f"| {title} | {len(runs)} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences, row − reference, seed by seed (mean ± sd; seeds where positive):", ""]
    lines += ["| Row − reference | " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * len(HEADERS)]
    for row, reference in pairs:
        if row not in titles or reference not in titles:
            continue
        cells = []
        for column in COLUMNS:
            diffs = [run["rows"][row][column] - run["rows"][reference][column] for run in runs]
            cells.append(f"{_mean_sd(diffs)} ({sum(d > 0 for d in diffs)}/{len(diffs)})")
        lines.append(f"| {row} − {reference} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed:", "", "| Method | seed | " + " | ".join(HEADERS) + " |"]
    lines += ["|---|---:|" + "---:|" * len(HEADERS)]
    for title in titles:
        for seed, run in zip(seeds, runs):
            values = " | ".join("-" if run["rows"][title].get(c) is None else f"{run['rows'][title][c]:.2f}"
                                for c in COLUMNS)  # fmt: skip
            lines.append(f"| {title} | {seed} | {values} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------- command
def run_grid(grid_file: str | os.PathLike, out: str | os.PathLike, jobs: int = 1, seeds=None) -> str:
    """Run the grid's seeds, ``jobs`` at a time in separate processes, then summarise."""
    grid = load_grid(grid_file)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def run(seed: int) -> bool:
        log = out / "logs" / f"seed-{seed}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "addressvlm.cli", "experiment", "--grid", str(grid_file)]
        command += ["--output", str(out), "--seed", str(seed), "--inline"]
        print(f"seed {seed}: started (log {log})", flush=True)
        with open(log, "a", encoding="utf-8") as sink:
            code = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT).returncode
        print(f"seed {seed}: {'done' if code == 0 else 'FAILED'}", flush=True)
        return code == 0

    todo = list(seeds or grid.seeds)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        failed = [seed for seed, ok in zip(todo, pool.map(run, todo)) if not ok]
    text = summarise(grid, out)
    if failed:
        raise RuntimeError(f"seeds {failed} failed; see {out / 'logs'} (re-run the same command to resume)")
    return text


@dataclass(kw_only=True)
class ExperimentOptions:
    """Options of ``addressvlm experiment`` (`run_grid`, `summarise`, `compare_quickstarts`).

    Args:
        grid (`str`, *optional*): grid YAML (see recipes/experiments/).
        output (`str`, *optional*): output folder (an existing one resumes).
        quickstarts (`list[str]`, *optional*): instead of a grid: summarise finished quickstart folders (one per
            seed) with paired differences.
        jobs (`int`, *optional*, defaults to 1): seeds run at once, one process each.
        seed (`list[int]`, *optional*): run only this seed (repeatable).
        inline (`bool`, *optional*, defaults to `False`): run the seeds in this process (how the grid runs each one;
            not shown in ``--help``).
        summary_only (`bool`, *optional*, defaults to `False`): only rewrite results.md from finished runs.
    """

    grid: str | None = option(None)
    output: str | None = option(None)
    quickstarts: list[str] | None = option(None, metavar="DIR")
    jobs: int = option(1)
    seed: list[int] | None = option(None, action="append", type=int)
    inline: bool = option(False, help=argparse.SUPPRESS)
    summary_only: bool = option(False)


def register(subparsers) -> None:
    add_command(
        subparsers,
        "experiment",
        ExperimentOptions,
        _main,
        help="run a grid of quickstart-scale runs (arm x seed) and summarise it with paired differences",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )


def _main(args) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    options = options_from(args, ExperimentOptions)
    if options.quickstarts:
        if options.grid:
            raise ValueError("--quickstarts summarises finished quickstart folders; it takes no --grid")
        text = compare_quickstarts(options.quickstarts)
        if options.output:
            atomic_write_text(options.output, text)
        print(text)
        return 0
    if not options.grid or not options.output:
        raise ValueError("addressvlm experiment needs --grid and --output (or --quickstarts DIR ...)")
    if options.summary_only:
        print(summarise(load_grid(options.grid), options.output))
        return 0
    if options.inline:
        grid = load_grid(options.grid)
        for seed in options.seed or grid.seeds:
            run_seed(grid, options.output, seed)
        return 0
    print(run_grid(options.grid, options.output, jobs=options.jobs, seeds=options.seed))
    return 0
