"""The address index at city scale: exact search against IVF-PQ on a million synthetic SigLIP-width vectors.

Builds, in one run and side by side, the two indexes ``addressvlm index build`` makes (``--index-type flat`` and
``--index-type ivfpq``, through the library's own `new_faiss_index`) over ``--n`` synthetic L2-normalised vectors of
width ``--dim`` (1152, SigLIP so400m), drawn around ``--clusters`` centres (images of one place look alike), and
prints:

* build throughput: vectors/s to train and fill each index, and images/s of the offline EfficientNet-Lite0 encoder
  on this machine (the encoder, not the index, bounds a real build; SigLIP so400m needs a GPU);
* query latency: ms per query in batches of ``--queries`` and for single queries (median of 50), at several
  ``nprobe``;
* recall@10 of IVF-PQ against exact search (share of the exact top 10 found in the approximate top 10);
* memory per million vectors (the index's bytes; the row table adds ~100 B per image).

Usage (~10 GB RAM for the exact index at 1M x 1152; about 40 minutes on one core)::

    python benchmarks/bench_index.py                      # 1M x 1152, nlist 1024, PQ64
    python benchmarks/bench_index.py --n 200000 --nlist 512 --nprobe 8 32   # quicker
    python benchmarks/bench_index.py --threads 1          # one core (a machine busy with other jobs)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _vectors(rng, centres, n: int, spread: float):
    """``n`` unit vectors: a random centre plus Gaussian noise whose norm is ~``spread`` times the centre's."""
    import numpy as np

    dim = centres.shape[1]
    which = rng.integers(0, len(centres), size=n)
    points = centres[which] + rng.standard_normal((n, dim), dtype=np.float32) * np.float32(spread)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return np.ascontiguousarray(points, dtype=np.float32)


def _chunks(seed: int, centres, n: int, spread: float, chunk: int = 50_000):
    import numpy as np

    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        yield _vectors(rng, centres, min(chunk, n - start), spread)


def _latency(index, queries, k: int) -> tuple[float, float]:
    """(ms per query in one batch, median ms of a single query)."""
    start = time.perf_counter()
    index.search(queries, k)
    batched = (time.perf_counter() - start) * 1000 / len(queries)
    singles = []
    for i in range(min(50, len(queries))):
        start = time.perf_counter()
        index.search(queries[i : i + 1], k)
        singles.append((time.perf_counter() - start) * 1000)
    return batched, statistics.median(singles)


def _encoder_throughput(images: int = 64) -> float | None:
    """Images/s of EfficientNet-Lite0 (224 px) on 640 x 480 images (resizing included, JPEG decoding not)."""
    import numpy as np
    from PIL import Image

    try:
        from addressvlm.retrieval.encoders import EfficientNetLite0Encoder

        encoder = EfficientNetLite0Encoder()
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    batch = [Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(32)]
    encoder.embed(batch[:4])  # warm-up
    start = time.perf_counter()
    for _ in range(images // 32):
        encoder.embed(batch)
    return images / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors in the index")
    parser.add_argument("--dim", type=int, default=1152, help="vector width (SigLIP so400m: 1152)")
    parser.add_argument("--clusters", type=int, default=20_000, help="centres the vectors are drawn around")
    parser.add_argument("--spread", type=float, default=0.75, help="noise around a centre, relative to its norm")
    parser.add_argument("--queries", type=int, default=1000, help="held-out query vectors")
    parser.add_argument("--nlist", type=int, default=1024, help="IVF lists (library default: 4 * sqrt(n))")
    parser.add_argument("--pq-m", type=int, default=64, help="PQ sub-quantisers (bytes per vector)")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 32, 128], help="lists searched per query")
    parser.add_argument("--k", type=int, default=10, help="recall@k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="faiss threads (default: all cores)")
    args = parser.parse_args(argv)

    import faiss
    import numpy as np

    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    from addressvlm.retrieval.index import IndexSpec, new_faiss_index

    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} CPUs", flush=True)
    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    queries = _vectors(np.random.default_rng(args.seed + 1), centres, args.queries, args.spread)

    rows = {}
    for name, spec in (("exact (flat)", IndexSpec("flat")), ("IVF-PQ", IndexSpec("ivfpq", nlist=args.nlist,
                                                                                  pq_m=args.pq_m))):  # fmt: skip
        index, factory, train_size = new_faiss_index(spec, args.dim, args.n)
        start = time.perf_counter()
        if train_size:
            index.train(_vectors(np.random.default_rng(args.seed + 2), centres, train_size, args.spread))
        trained = time.perf_counter() - start
        for chunk in _chunks(args.seed + 3, centres, args.n, args.spread):
            index.add(chunk)
        built = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            if name == "IVF-PQ":
                faiss.write_index(index, os.path.join(tmp, "index.faiss"))
                size = os.path.getsize(os.path.join(tmp, "index.faiss"))
            else:
                size = index.ntotal * args.dim * 4  # the stored vectors (what write_index writes, plus a header)
        rows[name] = {"index": index, "factory": factory, "train_s": trained, "build_s": built, "bytes": size,
                      "train_size": train_size}  # fmt: skip
        print(f"built {name} ({factory}) in {built:.1f} s", flush=True)

    exact = rows["exact (flat)"]["index"]
    _, truth = exact.search(queries, args.k)
    encoder_rate = _encoder_throughput()

    print(f"\n{args.n:,} vectors x {args.dim} (float32, L2-normalised, {args.clusters:,} clusters), "
          f"{args.queries} queries, recall@{args.k} against exact search\n")  # fmt: skip
    print("| index | nprobe | build (vectors/s) | train | query ms (batch) | query ms (single) | recall@10 | "
          "memory / 1M vectors |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        index = row["index"]
        per_million = row["bytes"] * 1_000_000 / args.n / 2**20
        rate = args.n / row["build_s"]
        train = f"{row['train_s']:.1f} s on {row['train_size']:,}" if row["train_size"] else "-"
        probes = args.nprobe if name == "IVF-PQ" else [None]
        for nprobe in probes:
            if nprobe is not None:
                faiss.extract_index_ivf(index).nprobe = nprobe
            batched, single = _latency(index, queries, args.k)
            _, found = index.search(queries, args.k)
            recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(truth, found)])
            print(f"| {name} ({row['factory']}) | {nprobe or '-'} | {rate:,.0f} | {train} | {batched:.3f} | "
                  f"{single:.2f} | {recall:.3f} | {per_million:,.0f} MiB |")  # fmt: skip
    if encoder_rate:
        print(f"\nEfficientNet-Lite0 encoder (224 px, resizing included, JPEG decoding not): {encoder_rate:.1f} "
              "images/s on this machine -- the bound on a real CPU build")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
