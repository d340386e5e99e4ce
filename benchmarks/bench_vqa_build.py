"""Time the VQA builder on a Pitts-size synthetic table, on one core.

The table mimics Pitts-VQA (Table B2): 8,208 locations x 24 views = 196,992 rows, 194 streets, 19 districts,
split 7410 / 0 / 798 locations so train has 177,840 images and test 19,152 (no image is decoded). A second run
uses the default 7:2:1 split of the same table. Target: <= 30 s per build, save included.

    python benchmarks/bench_vqa_build.py [--repeats 3] [--locations 8208] [--views 24]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def pitts_like_table(n_locations: int, views: int, streets: int = 194, districts: int = 19) -> pd.DataFrame:
    """Synthetic metadata: every location on one street, every street in one district."""
    rng = np.random.default_rng(0)
    street = rng.integers(0, streets, size=n_locations)
    return pd.DataFrame(
        {
            "image": [
                f"{i // 1000:03d}/{i:06d}_pitch{v // 12 + 1}_yaw{v % 12 + 1}.jpg"
                for i in range(n_locations)
                for v in range(views)
            ],
            "location_id": np.repeat([f"{i:06d}" for i in range(n_locations)], views),
            "lat": np.repeat(40.44 + rng.random(n_locations) * 0.04, views),
            "lon": np.repeat(-80.0 + rng.random(n_locations) * 0.05, views),
            "street": np.repeat([f"Street {s}" for s in street], views),
            "district": np.repeat([f"District {s % districts}" for s in street], views),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--locations", type=int, default=8208, help="number of locations")
    parser.add_argument("--views", type=int, default=24, help="views per location")
    parser.add_argument("--repeats", type=int, default=3, help="timed builds per configuration (best is reported)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    from datasets.utils.logging import disable_progress_bar

    from addressvlm.data.vqa import build_vqa, vqa_stats

    disable_progress_bar()

    frame = pitts_like_table(args.locations, args.views)
    configurations = {
        "Pitts split (7410/0/798 locations)": (7410 / 8208, 0.0, 798 / 8208),
        "default split 7:2:1": (0.7, 0.2, 0.1),
    }
    print(f"table: {len(frame):,} rows, {args.locations:,} locations, 1 core, numpy/pandas/arrow single-threaded")
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, ratios) in enumerate(configurations.items()):
            timings = []
            for repeat in range(args.repeats):
                start = time.perf_counter()
                dataset = build_vqa(frame, Path(tmp) / f"{index}-{repeat}", split_ratios=ratios, image_root=tmp)
                timings.append(time.perf_counter() - start)
            stats = vqa_stats(dataset)
            questions = int(stats["questions"].sum())
            best = min(timings)
            print(
                f"\n{label}: best {best:.2f} s of {args.repeats} (build + save_to_disk), "
                f"{questions / best:,.0f} questions/s"
            )
            print(stats.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
