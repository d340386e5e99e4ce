"""Batch composition of the quickstart's stage 2: padding and question-type mix, three ways, side by side.

For one epoch of the offline city's VQA training split it builds the batches the Trainer would build (the same
``length`` column and samplers: transformers' `LengthGroupedSampler` or a random permutation) and prints, per way:

* the padded share of the batch positions (what ``padding_fraction`` logs during training);
* the share of batches that hold all three question types (generation, judgement, multiple choice);
* the tokens and image encodings per epoch.

Ways: ``split_turns`` + random batches (the old quickstart), ``split_turns`` + ``group_by_length`` (which sorted
the types into separate batches and kept judgement at chance), ``isolate_turns`` + ``group_by_length`` (the
quickstart now). No model runs; only the tokenizer. Usage (a minute on one core)::

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 python benchmarks/bench_batches.py --work /tmp/bench-batches
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _city(work: Path, seed: int) -> tuple[Path, Path]:
    """The quickstart's city, VQA set and tiny base model (built once, reused)."""
    from addressvlm.quickstart import QuickstartOptions, _Steps, prepare

    space = prepare(QuickstartOptions(output=work, seed=seed, progress=False), _Steps(total=5))
    return space.vqa, space.base


def _batches(lengths: list[int], batch_size: int, grouped: bool, seed: int) -> list[list[int]]:
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(seed)
    if grouped:
        order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def measure(vqa: Path, base: Path, batch_size: int = 16, seed: int = 0) -> list[dict]:
    from addressvlm.data import load_address_dataset
    from addressvlm.models import load_pretrained
    from addressvlm.training.data import conversation_lengths, split_conversation_turns

    _, processor = load_pretrained(base)
    train = load_address_dataset(str(vqa))["train"]
    split = split_conversation_turns(train)
    rows = {
        "split": (split, [[q["type"] for q in row] for row in split["questions"]]),
        "isolated": (train, [[q["type"] for q in row] for row in train["questions"]]),
    }
    results = []
    for name, data_key, isolate, grouped in (
        ("split_turns + random", "split", False, False),
        ("split_turns + group_by_length", "split", False, True),
        ("isolate_turns + group_by_length", "isolated", True, True),
    ):
        dataset, types = rows[data_key]
        pairs = [(c, True) for c in dataset["conversations"]]
        lengths, _ = conversation_lengths(processor, pairs, isolate_turns=isolate)
        batches = _batches(lengths, batch_size, grouped, seed)
        positions = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        real = sum(lengths)
        mixed = sum(len({t for i in b for t in types[i]}) == 3 for b in batches)
        results.append(
            {
                "way": name,
                "batches": len(batches),
                "padding": 1 - real / positions,
                "mixed": mixed / len(batches),
                "tokens": real,
                "image_encodings": len(dataset),
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="bench_batches", help="folder for the city (reused)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    vqa, base = _city(Path(args.work), args.seed)
    results = measure(vqa, base, args.batch_size, args.seed)
    print(f"\nOne epoch of the quickstart's stage 2 (seed {args.seed}, batch {args.batch_size}):\n")
    print(f"{'way':<34} {'batches':>8} {'padding':>8} {'all 3 types':>12} {'tokens':>9} {'images':>7}")
    for r in results:
        print(
            f"{r['way']:<34} {r['batches']:>8} {100 * r['padding']:>7.1f}% {100 * r['mixed']:>11.0f}% "
            f"{r['tokens']:>9,} {r['image_encodings']:>7,}"
        )
    ok = results[-1]["padding"] <= 0.05 and results[-1]["mixed"] == 1.0
    print(f"\nisolate_turns + group_by_length: padding <= 5 % and every batch mixed: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
