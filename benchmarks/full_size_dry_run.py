"""Full-size dry run: the real LLaVA-Phi-3-mini architecture through real steps of the Pitts stage-2 config, on CPU.

No download: the model is the published architecture (``addressvlm.testing.full_size_llava_phi3_config``: CLIP
ViT-L/14-336, the MLP projector, Phi-3-mini; 4.14 B parameters) with random weights. The script

1. builds it on the meta device, applies the Pitts stage-2 trainable parts (vision full, projector full, LoRA r128 on
   the LLM) with the library's own code, and prints the parameter table next to ``docs/training.md``'s;
2. unless ``--skip-step``: for each ``--text-layers`` depth, saves the random model (full width: every Phi-3 layer,
   the CLIP tower, the 32064-row embeddings and LM head are real-sized; only the number of Phi-3 layers varies),
   builds a small VQA set of 640x480 street views with the real builder, and runs ``recipes/stage2.py --config
   recipes/configs/llava_phi3/pitts_stage2.yaml`` for ``--steps`` steps at batch 1 in a subprocess, with float32
   weights and no DeepSpeed (the config's single-GPU setting); then fits peak memory and time linearly in the depth,
   extrapolates to the real 32 layers and prints both next to the arithmetic of ``docs/training.md`` for the same
   setting.

Why float32 and fewer layers on a CPU: the full model in float32 needs ~25 GB for one step (more than a 24 GB
machine), and bf16 matrix products without AVX-512 BF16 run ~100x slower than float32 here (one 3072x3072 bf16
linear backward over 716 tokens took 83 s on one core). Memory per Phi-3 layer is the same at every depth, so two
depths pin down the fixed and the per-layer part.

Usage (CPU, offline; ~10 GB of RAM and ~10 minutes on 2 cores with the default depths 2 and 6)::

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 \\
        python benchmarks/full_size_dry_run.py --work /tmp/dry-run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes" / "configs" / "llava_phi3" / "pitts_stage2.yaml"
GIB = 2**30
# docs/training.md, "Trainable parts": LLaVA-Phi-3-mini under Table 4 "Ours".
DOCUMENTED = {
    "vision": (303_507_456, 303_507_456),
    "projector": (12_589_056, 12_589_056),
    "llm": (3_722_578_944, 201_326_592),
    "lm_head": (98_500_608, 0),
    "total": (4_137_176_064, 517_423_104),
}


def parameter_table(text_layers: int, vision_layers: int) -> list[dict]:
    """The Pitts stage-2 trainable-parts table of the full-size architecture, built on the meta device."""
    import yaml
    from accelerate import init_empty_weights

    from addressvlm.models import get_backbone
    from addressvlm.models.llava_phi3 import LlavaPhi3ForConditionalGeneration
    from addressvlm.models.llava_phi3.tiny_llava_phi3 import full_size_llava_phi3_config, train_tiny_tokenizer
    from addressvlm.training.arguments import TrainablePartsArguments
    from addressvlm.training.trainable_parts import TrainableParts, apply_trainable_parts
    from addressvlm.training.trainable_parts import parameter_table as table_of

    shipped = yaml.safe_load(CONFIG.read_text())
    keys = ("vision", "projector", "llm", "lora_r", "lora_alpha", "lora_dropout")
    args = TrainablePartsArguments(**{key: shipped[key] for key in keys})
    config = full_size_llava_phi3_config(train_tiny_tokenizer(), text_layers, vision_layers)
    with init_empty_weights():
        model = LlavaPhi3ForConditionalGeneration(config)
    spec = get_backbone(config)
    parts = TrainableParts.from_args(args)
    return table_of(apply_trainable_parts(model, parts, args, spec), spec, parts, {})


def _save_model(folder: Path, text_layers: int, vision_layers: int) -> Path:
    import torch

    from addressvlm.models.llava_phi3 import LlavaPhi3ForConditionalGeneration
    from addressvlm.models.llava_phi3.tiny_llava_phi3 import (
        full_size_llava_phi3_config,
        make_llava_phi3_processor,
        train_tiny_tokenizer,
    )

    if (folder / "config.json").is_file():
        return folder
    tokenizer = train_tiny_tokenizer()
    config = full_size_llava_phi3_config(tokenizer, text_layers, vision_layers)
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # build in bf16: the full model in fp32 alone would need 16.5 GB
    try:
        model = LlavaPhi3ForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    model.save_pretrained(folder)
    make_llava_phi3_processor(tokenizer, 336, pad_image_to_square=True).save_pretrained(folder)
    del model
    return folder


def run_step(work: Path, steps: int, text_layers: int, vqa: Path) -> dict:
    """Train ``steps`` steps of the shipped Pitts stage-2 config (float32, batch 1) on a ``text_layers``-deep model."""
    model = _save_model(work / f"model-{text_layers}", text_layers, 24)
    output = work / f"run-{text_layers}"
    if output.exists():
        shutil.rmtree(output)
    command = [sys.executable, str(ROOT / "recipes" / "stage2.py"), "--config", str(CONFIG)]
    command += ["--init_from", "", "--model_name_or_path", str(model), "--dataset_paths", str(vqa)]
    command += ["--output_dir", str(output), "--max_steps", str(steps), "--per_device_train_batch_size", "1"]
    command += ["--gradient_accumulation_steps", "1", "--dtype", "float32", "--bf16", "false"]
    command += ["--use_cpu", "true", "--save_strategy", "no", "--eval_strategy", "no", "--max_eval_samples", "1"]
    command += ["--dataloader_num_workers", "0", "--logging_steps", "1", "--disable_tqdm", "true"]
    print("$ " + " ".join(command), flush=True)
    began = time.monotonic()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"the recipe failed (exit {os.waitstatus_to_exitcode(status)})")
    state = json.loads((output / "trainer_state.json").read_text())
    step_times = [e["train_runtime"] for e in state["log_history"] if "train_runtime" in e]
    return {
        "text_layers": text_layers,
        "peak_rss_gib": usage.ru_maxrss * 1024 / GIB,  # KiB on Linux
        "seconds_per_step": step_times[-1] / steps,
        "wall_s": time.monotonic() - began,
        "loss": [e["loss"] for e in state["log_history"] if "loss" in e],
    }


def arithmetic(table: list[dict], text_layers: int, text_tokens: int = 140) -> list[tuple[str, float]]:
    """Predicted memory of one such run (float32 weights and compute, no DeepSpeed, batch 1), by docs/training.md's
    terms, at ``text_layers`` Phi-3 layers (``table`` is the 32-layer parameter table)."""
    rows = {row["group"]: row for row in table}
    layer = (rows["llm"]["parameters"] - 32064 * 3072 - 3072) / 32
    lora_per_layer = rows["llm"]["trainable"] / 32
    total = rows["total"]["parameters"] - (32 - text_layers) * layer
    lora = lora_per_layer * text_layers
    copies = rows["vision"]["trainable"] + rows["projector"]["trainable"]
    trainable = copies + lora
    length = 576 + text_tokens
    return [
        ("frozen base weights", total * 4 / GIB),
        ("trained copies (vision + projector)", copies * 4 / GIB),
        ("LoRA factors", lora * 4 / GIB),
        ("gradients", trainable * 4 / GIB),
        ("AdamW m and v", trainable * 8 / GIB),
        ("checkpointed layer inputs", (length * 3072 * text_layers + 577 * 1024 * 24) * 4 / GIB),
        ("recompute peak of one decoder layer", length * (8 * 3072 + 2 * 16384 + 8192) * 4 / GIB),
        ("logits, log-softmax and its gradient (12 B / element)", length * 32064 * 12 / GIB),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="full_size_dry_run", help="work folder (models, data, runs)")
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per run (the first one warms up)")
    parser.add_argument(
        "--text-layers", type=int, nargs="+", default=[2, 6], help="Phi-3 depths to run (32 = the real model)"
    )
    parser.add_argument("--skip-step", action="store_true", help="only the parameter table (meta device, seconds)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    table = parameter_table(32, 24)
    print("\nPitts stage 2 (Table 4 'Ours'), full-size architecture, built on the meta device:\n")
    print(f"{'group':<10} {'mode':<7} {'parameters':>14} {'docs':>14} {'trainable':>13} {'docs':>13}")
    for row in table:
        documented = [f"{d:,}" for d in DOCUMENTED[row["group"]]]
        print(
            f"{row['group']:<10} {row.get('mode') or '':<7} {row['parameters']:>14,} {documented[0]:>14} "
            f"{row['trainable']:>13,} {documented[1]:>13}"
        )
    same = all(DOCUMENTED[r["group"]] == (r["parameters"], r["trainable"]) for r in table)
    print(f"\nparameter counts {'equal' if same else 'DIFFER FROM'} docs/training.md")
    if args.skip_step:
        return 0 if same else 1

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    from addressvlm.testing import write_street_view_vqa

    vqa = write_street_view_vqa(work / "data")
    runs = [run_step(work, args.steps, depth, vqa) for depth in sorted(set(args.text_layers))]
    print("\nMeasured: recipes/stage2.py, Pitts stage-2 config, float32, batch 1, 1 process, no DeepSpeed:\n")
    print(f"{'Phi-3 layers':>12} {'peak RSS GiB':>13} {'predicted GiB':>14} {'s / step':>9}  losses")
    for run in runs:
        predicted = sum(value for _, value in arithmetic(table, run["text_layers"]))
        losses = ", ".join(f"{loss:.3f}" for loss in run["loss"])
        print(
            f"{run['text_layers']:>12} {run['peak_rss_gib']:>13.2f} {predicted:>14.2f} "
            f"{run['seconds_per_step']:>9.1f}  {losses}"
        )
    if len(runs) >= 2:
        (a, b) = runs[0], runs[-1]
        span = b["text_layers"] - a["text_layers"]
        per_layer = (b["peak_rss_gib"] - a["peak_rss_gib"]) / span
        peak32 = b["peak_rss_gib"] + per_layer * (32 - b["text_layers"])
        time_per_layer = (b["seconds_per_step"] - a["seconds_per_step"]) / span
        time32 = b["seconds_per_step"] + time_per_layer * (32 - b["text_layers"])
        predicted = arithmetic(table, 32)
        print("\nExtrapolated to the real 32 layers (linear in depth) next to the arithmetic (GiB):\n")
        for name, value in predicted:
            print(f"  {name:<55} {value:7.2f}")
        total = sum(value for _, value in predicted)
        print(f"  {'predicted total (no framework overhead)':<55} {total:7.2f}")
        print(f"  {'measured, extrapolated':<55} {peak32:7.2f}   ({per_layer:.3f} GiB per Phi-3 layer)")
        print(f"  {'measured / predicted':<55} {peak32 / total:7.2f}")
        print(f"\nTime: {time32:.0f} s per 1-row step at 32 layers on this CPU ({time_per_layer:.1f} s per layer)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
