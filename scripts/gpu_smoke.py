"""First-GPU smoke test: the real-size model through stage 2 under ZeRO-2, resume, and evaluation, in minutes.

Run it through ``scripts/gpu_smoke.sh`` (which sets the environment up); see there for the command. Steps:

1. the model: ``--model`` (e.g. ``xtuner/llava-phi-3-mini-hf`` when it is in the local Hub cache) or, by default, the
   real LLaVA-Phi-3-mini architecture with random weights (no download), saved in bf16;
2. a small Pitts-like VQA set (640x480 street views) from the real builder;
3. ``recipes/stage2.py --config recipes/configs/llava_phi3/pitts_stage2.yaml`` under ``accelerate launch`` with
   ``recipes/accelerate/zero2_8gpu.yaml`` on one process: 6 steps (2 micro-batches of 4 each), checkpoints at 3 and
   6, then ``--resume_from_checkpoint last --max_steps 8``;
4. the rotary ``inv_freq`` dtype after loading the base in bf16 (must stay float32);
5. ``addressvlm eval`` on 20 test images of the trained output.

It prints one summary table (also ``WORK/summary.md`` and ``WORK/summary.json``) with peak GPU memory, seconds per
step, the resume check, the rotary dtype, the processor setting evaluation used and the evaluation throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes" / "configs" / "llava_phi3" / "pitts_stage2.yaml"
LAUNCH = ROOT / "recipes" / "accelerate" / "zero2_8gpu.yaml"
CPU_LAUNCH = ROOT / "recipes" / "accelerate" / "zero2_cpu.yaml"


def _run(command: list[str], log: Path) -> float:
    print("$ " + " ".join(command), flush=True)
    began = time.monotonic()
    with open(log, "w", encoding="utf-8") as sink:
        code = subprocess.call(command, stdout=sink, stderr=subprocess.STDOUT)
    if code:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-40:])
        raise RuntimeError(f"{command[0]} ... failed (exit {code}); end of {log}:\n{tail}")
    return time.monotonic() - began


def _random_full_size_model(folder: Path) -> Path:
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
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = LlavaPhi3ForConditionalGeneration(full_size_llava_phi3_config(tokenizer))
    finally:
        torch.set_default_dtype(default)
    model.save_pretrained(folder)
    make_llava_phi3_processor(tokenizer, 336, pad_image_to_square=True).save_pretrained(folder)
    return folder


def _train(model: str, data: Path, output: Path, logs: Path, max_steps: int, resume: bool, cpu: bool) -> dict:
    launch = CPU_LAUNCH if cpu else LAUNCH
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "1",
        "--config_file",
        str(launch),
    ]
    command += [str(ROOT / "recipes" / "stage2.py"), "--config", str(CONFIG), "--init_from", ""]
    command += ["--model_name_or_path", model, "--dataset_paths", str(data), "--output_dir", str(output)]
    command += ["--max_steps", str(max_steps), "--gradient_accumulation_steps", "2", "--eval_strategy", "no"]
    command += ["--save_steps", "3", "--logging_steps", "1", "--skip_memory_metrics", "false"]
    command += ["--dataloader_num_workers", "2", "--report_to", "none"]
    if resume:
        command += ["--resume_from_checkpoint", "last"]
    if cpu:
        command += ["--use_cpu", "true", "--bf16", "false", "--dtype", "float32"]
    wall = _run(command, logs / f"train-{max_steps}.log")
    metrics = json.loads((output / "train_results.json").read_text())
    state = json.loads((output / "trainer_state.json").read_text())
    return {
        "wall_s": wall,
        "metrics": metrics,
        "log_history": state["log_history"],
        "global_step": state["global_step"],
    }


def _rotary_dtype(model: str) -> str:
    import torch

    from addressvlm.models import load_pretrained

    loaded, _ = load_pretrained(model, torch_dtype=torch.bfloat16)
    dtypes = {str(b.dtype) for name, b in loaded.named_buffers() if "inv_freq" in name}
    return "/".join(sorted(dtypes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="gpu_smoke", help="work folder")
    parser.add_argument("--model", default=None, help="a cached checkpoint instead of the random full-size model")
    parser.add_argument(
        "--cpu", action="store_true", help="rehearse on CPU (ZeRO-2 over gloo, float32; give a tiny --model)"
    )
    args = parser.parse_args(argv)
    import torch

    from addressvlm.testing import write_street_view_vqa

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device visible; this script is for a GPU machine", file=sys.stderr)
        return 2
    work = Path(args.work).resolve()
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    model = args.model or str(_random_full_size_model(work / "model"))
    data = write_street_view_vqa(work / "data", n_locations=40, views=4)
    output = work / "run"
    first = _train(model, data, output, logs, 6, resume=False, cpu=args.cpu)
    second = _train(model, data, output, logs, 8, resume=True, cpu=args.cpu)
    # the resumed run logs only the steps it trained; its trainer state also holds the first run's history
    printed = (logs / "train-8.log").read_text(encoding="utf-8", errors="replace")
    trained_after_resume = printed.count("'loss'")
    history_kept = [e for e in second["log_history"] if e.get("step", 0) <= 6 and "loss" in e] == [
        e for e in first["log_history"] if "loss" in e
    ]
    eval_dir = work / "eval"
    eval_wall = _run(
        [sys.executable, "-m", "addressvlm.cli", "eval", "--model", str(output), "--dataset", str(data),
         "--output-dir", str(eval_dir), "--limit", "20", "--overwrite", "--no-progress"]
        + (["--device", "cpu"] if args.cpu else []),
        logs / "eval.log",
    )  # fmt: skip
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    settings = json.loads((eval_dir / "eval_settings.json").read_text())
    m = first["metrics"]
    rows = [
        ("device", "CPU (rehearsal)" if args.cpu else torch.cuda.get_device_name(0)),
        ("model", args.model or "LLaVA-Phi-3-mini architecture, random weights (bf16)"),
        ("stage 2, 6 steps: train_runtime (s)", f"{m['train_runtime']:.1f}"),
        ("seconds per optimizer step (8 rows)", f"{m['train_runtime'] / 6:.2f}"),
        ("peak GPU memory, training (GiB)", _peak(m)),
        ("resumed run: global step", f"{second['global_step']} (expected 8)"),
        ("resumed run: steps trained", f"{trained_after_resume} (expected 2)"),
        ("resumed run: history of steps 1-6 kept", str(history_kept)),
        ("loss at step 6 / 8", f"{_loss_at(first, 6)} / {_loss_at(second, 8)}"),
        ("rotary inv_freq dtype after a bf16 load", _rotary_dtype(model)),
        ("eval: processor pad_image_to_square", str(settings["processor"]["pad_image_to_square"])),
        ("eval: 20 images, questions/s", f"{evaluated['timing']['questions_per_second']:.1f}"),
        ("eval wall time (s)", f"{eval_wall:.0f}"),
        ("whole smoke test (s)", f"{time.monotonic() - began:.0f}"),
    ]
    table = "| check | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"
    (work / "summary.md").write_text(table, encoding="utf-8")
    (work / "summary.json").write_text(json.dumps(dict(rows), indent=2), encoding="utf-8")
    print("\n" + table)
    ok = second["global_step"] == 8 and trained_after_resume == 2 and _rotary_dtype(model) == "torch.float32"
    return 0 if ok else 1


def _peak(metrics: dict) -> str:
    init = metrics.get("init_mem_gpu_alloc_delta", 0) + metrics.get("init_mem_gpu_peaked_delta", 0)
    train = metrics.get("train_mem_gpu_alloc_delta", 0) + metrics.get("train_mem_gpu_peaked_delta", 0)
    if not train:
        return "n/a (no memory metrics)"
    return f"{(init + train) / 2**30:.1f} (init {init / 2**30:.1f} + training {train / 2**30:.1f})"


def _loss_at(run: dict, step: int) -> str:
    losses = [e["loss"] for e in run["log_history"] if e.get("step") == step and "loss" in e]
    return f"{losses[-1]:.4f}" if losses else "-"


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
