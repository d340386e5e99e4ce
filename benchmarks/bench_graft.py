"""Grafting throughput (eq. 3) at 336 px on one core.

Cases (inputs already decoded, as in a data loader):

- ``PIL graft``, the offline city: 336 px tile + 128x128 street view;
- ``PIL graft``, satellite tile already 336 px + 640x480 street view (Pitts size);
- ``PIL graft``, 512 px satellite + 640x480 street view (both resized).

Target: >= 300 images/s per core. Threads of numpy are set to 1 and the process is pinned to one core.

    python benchmarks/bench_graft.py [--images 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import time


for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def _rate(function, count: int, repeats: int = 3) -> float:
    function()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return count / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256, help="images per timed run")
    parser.add_argument("--size", type=int, default=336, help="side of the grafted image")
    parser.add_argument("--delta", type=float, default=0.5, help="inset ratio")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from addressvlm.data.graft import graft

    rng = np.random.default_rng(0)
    street = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    satellites = {
        336: Image.fromarray(rng.integers(0, 256, (336, 336, 3), dtype=np.uint8)),
        512: Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)),
    }
    n = args.images
    print(f"graft at {args.size} px, delta {args.delta}, 1 core, {n} images per run")
    results = {}
    city_view = Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    results["PIL graft, offline city: tile 336 px + view 128 px"] = _rate(
        lambda: [graft(satellites[336], city_view, args.delta, args.size) for _ in range(n)], n
    )
    for side, satellite in satellites.items():
        results[f"PIL graft, satellite {side} px + view 640x480"] = _rate(
            lambda s=satellite: [graft(s, street, args.delta, args.size) for _ in range(n)], n
        )
    width = max(len(k) for k in results)
    for label, rate in results.items():
        verdict = "meets" if rate >= 300 else "below"
        print(f"{label:<{width}}  {rate:8.1f} images/s  {1000 / rate:6.2f} ms/image  ({verdict} 300 images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
