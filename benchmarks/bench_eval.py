"""Evaluation throughput: the runner against a loop that calls `generate` once per question, side by side.

Usage (CPU, tiny random model, offline; about a minute on 2 cores)::

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 \\
        python benchmarks/bench_eval.py --images 12 --image-size 336 --batch-size 16

All three paths answer the same questions (``--images`` synthetic images x the 9 evaluation questions of a test
row) with greedy decoding on the same tiny LlavaPhi3 (CLIP at ``--image-size`` px, so 336 px gives the real
576 image tokens per prompt):

1. ``loop``: one ``generate`` call per question (processor + pixels + prompt each time), the LLaVA eval-script way;
2. ``batched``: left-padded batches of ``--batch-size`` questions (`generate_answers`), each row with its own image;
3. ``runner``: `evaluate_model`, which encodes each image's prefix once and batches the questions after it
   (its questions/s covers the answering loop, image loading and JSONL writes, not the one-off metric load).

The paths alternate over ``--rounds`` rounds and the best round of each counts (the machine may be shared).
It prints the three rates, the runner / loop ratio (target: at least 5x) and whether the runner's answers equal the
loop's; the exit status is 1 when either check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def _write_split(folder: Path, n_images: int, seed: int = 0):
    """A test split in the docs/data_format.md §2 schema: random images, the 9 evaluation questions each."""
    import numpy as np
    from datasets import Dataset
    from PIL import Image

    streets = ["Aleksanterinkatu", "Mannerheimintie", "Kaivokatu", "Forbes Avenue"]
    districts = ["Kluuvi", "Kaartinkaupunki", "Kaisaniemi", "Downtown"]
    short = "Answer the question using a single word or phrase."
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        path = folder / f"img_{i:04d}.png"
        Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(path)
        street, district = streets[i % 4], districts[i % 4]
        other_street, other_district = streets[(i + 1) % 4], districts[(i + 1) % 4]
        options = " ".join(f"({letter}) {name}" for letter, name in zip("ABCD", streets))
        mc = (
            f"Which of the following {{}} correctly represents the location shown in the image? {options} "
            "Please select the correct option (A/B/C/D)."
        )
        questions = [
            ("Tell me the district where this image was captured. " + short, district, "district", "generation"),
            (f"Is this image taken in {district}, Yes or No?", "Yes", "district", "judgement"),
            (f"Is this image taken in {other_district}, Yes or No?", "No", "district", "judgement"),
            (mc.format("district"), "A", "district", "multiple_choice"),
            ("What is the street seen in this picture called? " + short, street, "street", "generation"),
            (f"Is this image taken on {street}, Yes or No?", "Yes", "street", "judgement"),
            (f"Is this image taken on {other_street}, Yes or No?", "No", "street", "judgement"),
            (mc.format("street"), "A", "street", "multiple_choice"),
            ("Which street and district is the image located? Answer the question using a single phrase.",
             f"{street}, {district}", "street_district", "generation"),
        ]  # fmt: skip
        entries = [
            dict(
                question=q, answer=a, reference=a, level=lv, type=t, options=streets if t == "multiple_choice" else []
            )
            for q, a, lv, t in questions
        ]
        rows.append(dict(id=f"test-{i:07d}", image=str(path), street=street, district=district, questions=entries))
    return Dataset.from_list(rows)


def _loop(model, processor, images, questions, max_new_tokens):
    """One `generate` call per question: returns the answers and the seconds taken."""
    from addressvlm.inference import generate_answers

    start = time.perf_counter()
    answers = [
        generate_answers(model, processor, [image], [question], batch_size=1, max_new_tokens=max_new_tokens)[0]
        for image, question in zip(images, questions)
    ]
    return answers, time.perf_counter() - start


def _runner(model, processor, split, folder, batch_size, max_new_tokens):
    """`evaluate_model` from scratch: returns the answers and the seconds of its answering loop."""
    from addressvlm.inference import evaluate_model

    metrics = evaluate_model(
        model, processor, split, folder, batch_size=batch_size, max_new_tokens=max_new_tokens, overwrite=True,
        show_progress=False,
    )  # fmt: skip
    lines = (folder / "predictions.jsonl").read_text().splitlines()
    return [json.loads(line)["prediction"] for line in lines], metrics["timing"]["seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12, help="synthetic test images (9 questions each)")
    parser.add_argument("--image-size", type=int, default=336, help="vision tower input size (336 -> 576 tokens)")
    parser.add_argument("--batch-size", type=int, default=16, help="questions per generate call (batched, runner)")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="answer length limit")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds; the best of each is kept")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from addressvlm.inference import generate_answers
    from addressvlm.models.llava_phi3.tiny_llava_phi3 import build_tiny_llava_phi3

    model, processor = build_tiny_llava_phi3(image_size=args.image_size)
    model = model.to(args.device).eval()
    times: dict[str, list[float]] = {"loop": [], "batched": [], "runner": []}
    with tempfile.TemporaryDirectory() as tmp:
        split = _write_split(Path(tmp), args.images)
        images = [row["image"] for row in split for _ in row["questions"]]
        questions = [q["question"] for row in split for q in row["questions"]]
        n = len(questions)
        generate_answers(model, processor, images[:2], questions[:2], batch_size=2, max_new_tokens=2)  # warm-up
        _runner(model, processor, split.select(range(1)), Path(tmp) / "warm", args.batch_size, 2)  # loads the metric
        # Rounds alternate the three paths, so that a busy machine slows them alike; the best round of each counts.
        for _ in range(args.rounds):
            loop, seconds = _loop(model, processor, images, questions, args.max_new_tokens)
            times["loop"].append(seconds)
            start = time.perf_counter()
            batched = generate_answers(
                model, processor, images, questions, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens
            )
            times["batched"].append(time.perf_counter() - start)
            runner, seconds = _runner(
                model, processor, split, Path(tmp) / "eval", args.batch_size, args.max_new_tokens
            )
            times["runner"].append(seconds)

    rate = {name: n / min(values) for name, values in times.items()}
    ratio = rate["runner"] / rate["loop"]
    rounds = ", ".join(f"{slow / fast:.1f}x" for slow, fast in zip(times["loop"], times["runner"]))
    same = sum(a == b for a, b in zip(runner, loop))
    same_batched = sum(a == b for a, b in zip(batched, loop))
    print(
        f"tiny LlavaPhi3, {args.image_size} px ({processor.num_image_tokens} image tokens), "
        f"{args.images} images x 9 = {n} questions, <= {args.max_new_tokens} new tokens, greedy, {args.device} "
        f"({torch.get_num_threads()} threads), best of {args.rounds} alternating rounds"
    )
    print(f"loop    (1 generate per question)       : {rate['loop']:8.2f} questions/s")
    print(
        f"batched (left-padded, batch {args.batch_size:3d})       : {rate['batched']:8.2f} questions/s "
        f"({same_batched}/{n} answers equal the loop's)"
    )
    print(f"runner  (image prefix once, batch {args.batch_size:3d}) : {rate['runner']:8.2f} questions/s")
    print(f"runner / loop = {ratio:.1f}x (per round: {rounds}; target >= 5x: {'PASS' if ratio >= 5 else 'FAIL'})")
    print(f"runner answers identical to the loop: {same == n} ({same}/{n})")
    return 0 if ratio >= 5 and same == n else 1


if __name__ == "__main__":
    sys.exit(main())
