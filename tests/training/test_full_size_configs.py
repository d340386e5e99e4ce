"""Preflight: every shipped full-size config, of every backbone, runs one optimizer step through the real recipe
script, on CPU.

Only what a CPU must change is overridden: the model (a tiny checkpoint of the config's backbone in its published
layout -- ``xtuner/llava-phi-3-mini-hf``, ``openbmb/MiniCPM-V-2_6`` -- or that backbone's tiny stage-1 output for
stage 2), the data (tiny sets), ``max_steps 1``, float32 weights without
bf16, no DeepSpeed, batch 1, and the output folder. Logging (``report_to``), evaluation, saving, sampling,
trainable parts, LoRA settings, optimizer and data-loader workers stay as shipped, so a setting that would crash the
first real run (e.g. a logger that is not installed) fails here, in CI, instead of minutes into a GPU job.
"""

from __future__ import annotations

import json

import pytest
import yaml

from addressvlm.testing import save_tiny

from .conftest import RECIPES, load_recipe, quick_args


pytestmark = pytest.mark.xdist_group("training-recipes")

CONFIGS = RECIPES / "configs"
CPU_ONLY = ("tiny_cpu_", "quickstart_cpu_")  # the CPU configs, exercised by the other recipe tests
# Each backbone's published layout, as its full-size stage-1 configs load it (model_name_or_path).
PUBLISHED_LAYOUT = {"llava_phi3": "llava-hf-legacy", "minicpmv": "minicpmv-hf"}


def _full_size_runs() -> list[tuple[str, str, list[str]]]:
    """(backbone, stage, [config files]) for every full-size config of every backbone folder; Table 4 overlays on
    top of the backbone's Pitts configs."""
    runs = []
    for folder in sorted(path for path in CONFIGS.iterdir() if path.is_dir()):
        for path in sorted(folder.glob("*.yaml")):
            if not path.name.startswith(CPU_ONLY):
                runs.append((folder.name, "stage1" if "stage1" in path.name else "stage2", [path]))
        for overlay in sorted((folder / "table4").glob("*.yaml")):
            stage = "stage1" if overlay.name.startswith("stage1") else "stage2"
            runs.append((folder.name, stage, [folder / f"pitts_{stage}.yaml", overlay]))
    return runs


RUNS = _full_size_runs()


def test_every_shipped_config_is_covered():
    covered = {path for _, _, files in RUNS for path in files}
    shipped = set(CONFIGS.rglob("*.yaml"))
    cpu = {path for path in shipped if path.name.startswith(CPU_ONLY)}
    assert shipped - cpu == covered
    assert {backbone for backbone, _, _ in RUNS} == set(PUBLISHED_LAYOUT)
    assert len(covered) >= 13  # both backbones: Pitts and SF, both stages; five Table 4 overlays


_BASES: dict[str, str] = {}
_STAGE1: dict[str, str] = {}


@pytest.fixture(scope="module")
def published_base(tmp_path_factory):
    """``published_base(backbone)``: a tiny checkpoint in the exact key layout of the backbone's published model."""

    def _get(backbone):
        if backbone not in _BASES:
            folder = tmp_path_factory.mktemp(f"published-{backbone}")
            _BASES[backbone] = save_tiny(folder, backbone=backbone, layout=PUBLISHED_LAYOUT[backbone], image_size=56)
        return _BASES[backbone]

    return _get


@pytest.fixture(scope="module")
def tiny_stage1(tmp_path_factory, stage1_output, stage1_dataset):
    """``tiny_stage1(backbone)``: a finished tiny stage-1 output of the backbone (LoRA LLM, full vision)."""

    def _get(backbone):
        if backbone == "llava_phi3":
            return str(stage1_output[0])
        if backbone not in _STAGE1:
            base = save_tiny(tmp_path_factory.mktemp(f"tiny-{backbone}"), backbone=backbone)
            output = tmp_path_factory.mktemp(f"stage1-{backbone}") / "run"
            argv = ["--config", str(CONFIGS / backbone / "tiny_cpu_stage1.yaml"), "--model_name_or_path", base]
            load_recipe("stage1").run(argv + ["--dataset_paths", stage1_dataset] + quick_args(output, max_steps=2))
            _STAGE1[backbone] = str(output)
        return _STAGE1[backbone]

    return _get


@pytest.mark.parametrize(
    "backbone,stage,files",
    RUNS,
    ids=[f"{backbone}-" + "+".join(p.stem for p in files[-1:]) + f"-{stage}" for backbone, stage, files in RUNS],
)
def test_full_size_config_takes_one_step(
    backbone, stage, files, tmp_path, published_base, tiny_stage1, stage1_dataset, vqa_dataset
):
    shipped = {}
    for path in files:
        shipped.update(yaml.safe_load(path.read_text()))
    argv = [arg for path in files for arg in ("--config", str(path))]
    if stage == "stage1":
        argv += ["--model_name_or_path", published_base(backbone), "--dataset_paths", stage1_dataset]
    else:
        argv += ["--init_from", tiny_stage1(backbone), "--dataset_paths", vqa_dataset]
    output = tmp_path / "run"
    argv += ["--output_dir", str(output), "--max_steps", "1", "--per_device_train_batch_size", "1"]
    argv += ["--dtype", "float32", "--bf16", "false", "--use_cpu", "true", "--disable_tqdm", "true"]

    trainer = load_recipe(stage).run(argv)

    args = trainer.args
    assert trainer.state.global_step == 1
    for key in ("report_to", "optim", "lr_scheduler_type", "dataloader_num_workers", "save_strategy"):
        value = getattr(args, key)
        value = [getattr(v, "value", v) for v in value] if isinstance(value, list) else getattr(value, "value", value)
        assert key not in shipped or shipped[key] == value or [shipped[key]] == value, (key, value)
    assert args.gradient_accumulation_steps == shipped["gradient_accumulation_steps"]
    if "tensorboard" in shipped.get("report_to", ""):
        assert list(output.rglob("events.out.tfevents.*")), "TensorBoard wrote no event file"
    metrics = json.loads((output / "all_results.json").read_text())
    assert metrics["train_loss"] > 0
    if shipped.get("eval_split"):
        assert "eval_loss" in metrics
    assert (output / "README.md").is_file()
    if shipped.get("llm", "lora") == "lora":
        assert (output / "adapter_config.json").is_file()
    else:
        assert (output / "config.json").is_file()
