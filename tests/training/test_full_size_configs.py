"""Preflight: every shipped full-size config runs one optimizer step through the real recipe script, on CPU.

Only what a CPU must change is overridden: the model (a tiny checkpoint in the published ``xtuner/llava-phi-3-mini-hf``
layout, or the tiny stage-1 output for stage 2), the data (tiny sets), ``max_steps 1``, float32 weights without
bf16, no DeepSpeed, batch 1, and the output folder. Logging (``report_to``), evaluation, saving, sampling,
trainable parts, LoRA settings, optimizer and data-loader workers stay as shipped, so a setting that would crash the
first real run (e.g. a logger that is not installed) fails here, in CI, instead of minutes into a GPU job.
"""

from __future__ import annotations

import json

import pytest
import yaml

from addressvlm.models.llava_phi3.tiny_llava_phi3 import save_tiny_llava_hf

from .conftest import RECIPES, load_recipe


pytestmark = pytest.mark.xdist_group("training-recipes")

CONFIGS = RECIPES / "configs"
CPU_ONLY = ("tiny_cpu_", "quickstart_cpu_")  # the CPU configs, exercised by the other recipe tests
TABLE4 = CONFIGS / "table4"


def _full_size_runs() -> list[tuple[str, list[str]]]:
    """(stage, [config files]) for every full-size config, the Table 4 overlays on top of the Pitts ones."""
    runs = []
    for path in sorted(CONFIGS.glob("*.yaml")):
        if not path.name.startswith(CPU_ONLY):
            runs.append(("stage1" if "stage1" in path.name else "stage2", [path]))
    for overlay in sorted(TABLE4.glob("*.yaml")):
        stage = "stage1" if overlay.name.startswith("stage1") else "stage2"
        runs.append((stage, [CONFIGS / f"pitts_llava_phi3_{stage}.yaml", overlay]))
    return runs


RUNS = _full_size_runs()


def test_every_shipped_config_is_covered():
    covered = {path for _, files in RUNS for path in files}
    shipped = set(CONFIGS.rglob("*.yaml"))
    cpu = {path for path in shipped if path.name.startswith(CPU_ONLY)}
    assert shipped - cpu == covered
    assert len(covered) >= 9  # Pitts and SF, both stages, five Table 4 overlays


@pytest.fixture(scope="module")
def stock_layout_base(tmp_path_factory):
    """A tiny checkpoint in the exact key layout of ``xtuner/llava-phi-3-mini-hf`` (what stage 1 loads)."""
    return save_tiny_llava_hf(tmp_path_factory.mktemp("stock-base"), layout="legacy", image_size=56)


@pytest.mark.parametrize(
    "stage,files", RUNS, ids=["+".join(p.stem for p in files[-1:]) + f"-{stage}" for stage, files in RUNS]
)
def test_full_size_config_takes_one_step(
    stage, files, tmp_path, stock_layout_base, stage1_output, stage1_dataset, vqa_dataset
):
    shipped = {}
    for path in files:
        shipped.update(yaml.safe_load(path.read_text()))
    argv = [arg for path in files for arg in ("--config", str(path))]
    if stage == "stage1":
        argv += ["--model_name_or_path", stock_layout_base, "--dataset_paths", stage1_dataset]
    else:
        argv += ["--init_from", str(stage1_output[0]), "--dataset_paths", vqa_dataset]
    output = tmp_path / "run"
    argv += ["--output_dir", str(output), "--max_steps", "1", "--per_device_train_batch_size", "1"]
    argv += ["--torch_dtype", "float32", "--bf16", "false", "--use_cpu", "true", "--disable_tqdm", "true"]

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
