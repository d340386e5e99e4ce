"""The quickstart's GeoReasoner row (``addressvlm quickstart --georeasoner``): GeoReasoner reproduced on the same city,
the same base model and the same test split as the other rows (docs/baselines.md).

Steps (each skipped when its output exists):

1. ``locatability`` -- the street views scored by locatability and the top `TOP_FRACTION` kept. The offline city's
   own class fractions (``class_fractions.csv``: what its renderer drew where) stand in for the ADE20K segmentation
   model, which the offline quickstart cannot download; the filter keeps a top fraction because GeoReasoner's 0.4
   cut is for photographs (a drawn street view scores lower: less road and sky, no poles or lamps to speak of);
2. ``georeasoner-labels`` -- district-level reasoning labels (``addressvlm data label-georeasoner``; templated
   reasons, since a tiny random model cannot write them), put into GeoReasoner's JSON format;
3. ``georeasoner-loc-set`` -- the location-tuning set: the training images above the cut, naming questions in JSON;
4. ``georeasoner-reason`` -- stage A, reasoning tuning (``recipes/stage1.py``);
5. ``georeasoner`` -- stage B, location tuning from stage A's checkpoint (``recipes/stage2.py --init_from``);
6. its evaluation with GeoReasoner's JSON prompt (``addressvlm eval --prompt-style georeasoner``).

Epochs are shrunk for this row to fit the time budget (``--georeasoner-epochs``, default 3 + 8 against the other
rows' 6 + 12); its configs are ``recipes/configs/<backbone>/quickstart_cpu_georeasoner_stage{1,2}.yaml``. As in the
quickstart's other rows the tiny random LLM trains in full, not as GeoReasoner's two stacked LoRAs: a LoRA has no
pretrained LLM to adapt here and barely learns (the configs give the measurements); the stacked-adapter path runs in
``tiny_cpu_georeasoner_stage{1,2}.yaml`` and the full-size configs.
"""

from __future__ import annotations

from pathlib import Path


__all__ = [
    "GEOREASONER_ROW",
    "MAX_NEW_TOKENS",
    "TOP_FRACTION",
    "georeasoner_rows",
    "georeasoner_step_count",
    "run_georeasoner_row",
]

GEOREASONER_ROW = ("georeasoner", "GeoReasoner (reason → loc)")
"""(evaluation folder, row title)."""

TOP_FRACTION = 0.7
"""Share of the street views kept by the locatability filter."""

MAX_NEW_TOKENS = 64
"""Answer length of the JSON answers: the district and the street come first, then the reasons (cut off)."""


def georeasoner_step_count(enabled: bool) -> int:
    """Steps `run_georeasoner_row` adds to the quickstart's count."""
    return 7 if enabled else 0


def georeasoner_rows(out: Path) -> tuple[tuple[str, str], ...]:
    """The GeoReasoner row of the comparison when its ``eval/georeasoner/metrics.json`` exists."""
    found = (Path(out) / "eval" / GEOREASONER_ROW[0] / "metrics.json").is_file()
    return (GEOREASONER_ROW,) if found else ()


def run_georeasoner_row(options, space, steps) -> None:
    """Score locatability, build GeoReasoner's two sets, train the reasoning stage and the location stage on it, and
    evaluate the result with GeoReasoner's JSON prompt.

    Args:
        options (`QuickstartOptions`): the run's settings (``georeasoner_epochs``, ``eval_limit``, ``progress`` ...).
        space (`Workspace`): its folders; the city, the VQA set and the base model must exist.
        steps (`_Steps`): the quickstart's step runner.
    """
    from addressvlm.quickstart import _cli, _evaluate, _recipe, recipe_args

    out, vqa, runs = space.out, space.vqa, space.runs
    data = out / "data"
    locatability, labels = data / "locatability", data / "georeasoner_labels"
    reason, loc = data / "georeasoner_reason", data / "georeasoner_loc"
    quiet = [] if options.progress else ["--no-progress"]
    fractions = space.city / "class_fractions.csv"
    if not (locatability / "metadata.csv").exists() and not fractions.is_file():
        raise FileNotFoundError(
            f"{fractions} not found: the city was built before the renderer recorded its class fractions; "
            f"delete {space.city} (and the quickstart's later outputs) to rebuild it"
        )
    steps.run(f"locatability: score the street views (the city's own class fractions), keep the top {TOP_FRACTION}",
              locatability / "metadata.csv", _cli, "data", "locatability", space.city / "metadata.csv",
              "--fractions", fractions, "--top-fraction", TOP_FRACTION, "--output", locatability,
              *quiet)  # fmt: skip
    print("  (GeoReasoner reasoning labels: templated reasons -- a tiny random model cannot write them)")
    steps.run("georeasoner-labels: district-level reasoning labels (label-georeasoner)", labels / "build_info.json",
              _cli, "data", "label-georeasoner", vqa, "-o", labels, "--fallback-only", *quiet)  # fmt: skip
    steps.run("georeasoner-reason-set: GeoReasoner's prompt -> JSON with reasons", reason / "build_info.json", _cli,
              "data", "georeasoner-format", labels, "--output", reason)  # fmt: skip
    steps.run("georeasoner-loc-set: the locatable training images, naming questions in JSON", loc / "build_info.json",
              _cli, "data", "georeasoner-format", vqa, "--output", loc, "--keep-images",
              locatability / "metadata.csv")  # fmt: skip
    reason_epochs, loc_epochs = options.georeasoner_epochs
    common = recipe_args(options)
    steps.run("georeasoner-reason: stage A, reasoning tuning (recipes/stage1.py)",
              runs / "georeasoner_reason" / "train_results.json", _recipe, 1, runs / "georeasoner_reason.log",
              "--model_name_or_path", space.base, "--dataset_paths", reason, "--output_dir",
              runs / "georeasoner_reason", "--num_train_epochs", reason_epochs, *common, backbone=options.backbone,
              config="quickstart_cpu_georeasoner_stage1.yaml")  # fmt: skip
    steps.run("georeasoner: stage B, location tuning from stage A (recipes/stage2.py --init_from)",
              runs / "georeasoner" / "train_results.json", _recipe, 2, runs / "georeasoner.log", "--init_from",
              runs / "georeasoner_reason", "--dataset_paths", loc, "--output_dir", runs / "georeasoner",
              "--num_train_epochs", loc_epochs, *common, backbone=options.backbone,
              config="quickstart_cpu_georeasoner_stage2.yaml")  # fmt: skip
    steps.run("georeasoner: evaluate with GeoReasoner's JSON prompt", out / "eval" / GEOREASONER_ROW[0] /
              "metrics.json", _evaluate, options, runs / "georeasoner", vqa, out / "eval" / GEOREASONER_ROW[0],
              "GeoReasoner", "test", "--prompt-style", "georeasoner", "--max-new-tokens", MAX_NEW_TOKENS)  # fmt: skip
