"""Training steps per second: our LLaVA-Phi-3 class vs stock transformers Llava, and our MiniCPM-V 2.6 class.

All three train on the same kind of batch (the same rows through each backbone's own collator), in one process,
interleaved step by step so that machine load hits them alike; the median step time of each is reported. The stock
model is our tiny LLaVA-Phi-3 exported to the ``xtuner/llava-phi-3-mini-hf`` layout (Llama-ified Phi-3: q/k/v and
gate/up split) and loaded with ``LlavaForConditionalGeneration``: the same weights and sizes, transformers' code.

    python benchmarks/bench_train_step.py [--steps 12] [--batch-size 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
from PIL import Image


SIZES = dict(image_size=112, vision_hidden_size=64, text_hidden_size=256, text_layers=4, text_kv_heads=4)


def _rows(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        image = Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
        rows.append(
            {
                "image": image,
                "conversations": [
                    {"from": "human", "value": "What district is shown in this photograph? Answer in one word."},
                    {"from": "gpt", "value": ["Kluuvi", "Kaartinkaupunki", "Kamppi", "Punavuori"][i % 4]},
                    {"from": "human", "value": "Which street is this? Answer the question using a single phrase."},
                    {"from": "gpt", "value": "Aleksanterinkatu"},
                ],
            }
        )
    return rows


def _step(model, optimizer, batch) -> float:
    start = time.perf_counter()
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per model (after 2 warm-up steps)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per step")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from transformers import LlavaForConditionalGeneration

    from addressvlm.models.llava_phi3 import export_llava_hf
    from addressvlm.testing import build_tiny
    from addressvlm.training.collator import ConversationCollator

    rows = _rows(args.batch_size)
    ours, llava_processor = build_tiny("llava_phi3", seed=0, **SIZES)
    with tempfile.TemporaryDirectory() as folder:
        export_llava_hf(ours, llava_processor, folder)
        stock = LlavaForConditionalGeneration.from_pretrained(folder, attn_implementation="sdpa")
    minicpmv, minicpmv_processor = build_tiny("minicpmv", seed=0, **SIZES)
    llava_batch = ConversationCollator(llava_processor)(rows)
    models = {
        "LLaVA-Phi-3 (ours, LlavaPhi3ForConditionalGeneration)": (ours, llava_batch),
        "LLaVA-Phi-3 (stock LlavaForConditionalGeneration)": (stock, llava_batch),
        "MiniCPM-V 2.6 (ours, MiniCPMVForConditionalGeneration)": (
            minicpmv,
            ConversationCollator(minicpmv_processor)(rows),
        ),
    }
    optimizers = {}
    for name, (model, batch) in models.items():
        model.train()
        optimizers[name] = torch.optim.AdamW(model.parameters(), lr=1e-4)
        for _ in range(2):
            _step(model, optimizers[name], batch)
    times = {name: [] for name in models}
    for _ in range(args.steps):
        for name, (model, batch) in models.items():
            times[name].append(_step(model, optimizers[name], batch))

    stock_name = "LLaVA-Phi-3 (stock LlavaForConditionalGeneration)"
    stock_median = statistics.median(times[stock_name])
    print(f"batch {args.batch_size} rows, {args.steps} interleaved steps each, {args.threads} threads")
    print(f"{'model':<58} {'params':>10} {'seq':>5} {'steps/s':>8} {'vs stock':>9}")
    for name, (model, batch) in models.items():
        median = statistics.median(times[name])
        params = sum(p.numel() for p in model.parameters())
        relative = f"{stock_median / median:.3f}x" if "LLaVA" in name else "-"
        print(f"{name:<58} {params:>10,} {batch['input_ids'].shape[1]:>5} {1 / median:>8.2f} {relative:>9}")
    ratio = stock_median / statistics.median(times["LLaVA-Phi-3 (ours, LlavaPhi3ForConditionalGeneration)"])
    print(f"ours / stock steps per second: {ratio:.3f} ({'within' if ratio >= 0.95 else 'OUTSIDE'} the 5 % bound)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
