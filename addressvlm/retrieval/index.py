"""The address index: image vectors in a FAISS index plus each image's address, on disk in one folder.

Layout of an index folder::

    index_info.json   encoder identity, index type and settings, row count, sources (written last)
    index.faiss       the FAISS index: inner product on L2-normalised vectors (= cosine similarity)
    rows/             a `datasets` Arrow table, row i = vector i: image, id, location_id, street, district, city,
                      lat, lon

Building is resumable: vectors are written in shards of ``shard_size`` images to ``.work/`` inside the output
folder (each shard atomically), so a killed build re-embeds at most one shard; the finished index replaces the
folder atomically (``index_info.json`` present = complete). ``add_to_index`` embeds new images the same way and
refuses an encoder other than the index's.

Index types (``IndexSpec``): ``flat`` (exact search; the default, right up to a few hundred thousand images),
``ivf`` (inverted lists, exact vectors) and ``ivfpq`` (inverted lists + product quantisation: ~72 bytes per image
instead of ``4 * dim``, for millions of images), or any FAISS factory string. ``benchmarks/bench_index.py``
measures their speed, memory and recall.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from addressvlm.utils.io import atomic_output_dir, atomic_write_json, check_output_folder

from .encoders import ImageEncoder, check_same_encoder, load_encoder, load_encoder_from_identity
from .sources import ROW_COLUMNS, read_source_rows


__all__ = [
    "INDEX_TYPES",
    "AddressIndex",
    "IndexSpec",
    "add_to_index",
    "build_index",
    "embed_images",
    "new_faiss_index",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
INFO_FILE = "index_info.json"
INDEX_FILE = "index.faiss"
ROWS_DIR = "rows"
WORK_DIR = ".work"
ADD_WORK_DIR = ".work-add"
INDEX_TYPES = ("flat", "ivf", "ivfpq")


def _faiss():
    try:
        import faiss
    except ImportError as err:
        raise ImportError("The address index needs faiss-cpu: pip install 'addressvlm[retrieval]'") from err
    return faiss


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index to build.

    Args:
        kind (`str`, *optional*, defaults to ``"flat"``): ``flat`` (exact), ``ivf`` or ``ivfpq``.
        nlist (`int`, *optional*): inverted lists of ``ivf`` / ``ivfpq``; default ``4 * sqrt(n)`` (at most
            ``n / 39``, FAISS's minimum of training points per list).
        pq_m (`int`, *optional*): sub-quantisers of ``ivfpq`` (bytes per vector at 8 bits); default the largest
            divisor of the width that is at most 64 and at most a quarter of the width.
        pq_bits (`int`, *optional*, defaults to 8): bits per sub-quantiser code.
        nprobe (`int`, *optional*, defaults to 32): inverted lists visited per query (stored; `AddressIndex.nprobe`
            changes it at search time).
        factory (`str`, *optional*): any FAISS ``index_factory`` string instead (e.g. ``"IVF4096,PQ96"``,
            ``"HNSW32"``); overrides ``kind``.
    """

    kind: str = "flat"
    nlist: int | None = None
    pq_m: int | None = None
    pq_bits: int = 8
    nprobe: int = 32
    factory: str | None = None

    def __post_init__(self):
        if self.factory is None and self.kind not in INDEX_TYPES:
            raise ValueError(f"index type must be one of {INDEX_TYPES} or a FAISS factory string, got {self.kind!r}")
        for name in ("nlist", "pq_m", "pq_bits", "nprobe"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def factory_string(self, dim: int, n: int) -> str:
        """The FAISS factory string for ``n`` vectors of width ``dim``.

        Raises:
            `ValueError`: too few vectors to train the requested index, or ``pq_m`` not dividing ``dim``.
        """
        if self.factory:
            return self.factory
        if self.kind == "flat":
            return "Flat"
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
        if n < nlist:
            raise ValueError(
                f"an {self.kind} index with {nlist} lists needs at least {nlist} images, got {n}; use a smaller "
                "--nlist or --index-type flat (exact search, right for small sets)"
            )
        if self.kind == "ivf":
            return f"IVF{nlist},Flat"
        m = self.pq_m or max(d for d in range(1, min(64, max(1, dim // 4)) + 1) if dim % d == 0)
        if dim % m:
            raise ValueError(f"pq_m={m} must divide the vector width {dim}")
        if n < 2**self.pq_bits:
            raise ValueError(
                f"product quantisation with {self.pq_bits}-bit codes needs at least {2**self.pq_bits} images to "
                f"train, got {n}; use --index-type ivf or flat"
            )
        return f"IVF{nlist},PQ{m}x{self.pq_bits}"


# ---------------------------------------------------------------------------------------------------- embedding
def _digest(images: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update(image.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _batches(images: Sequence[str], start: int, stop: int, batch_size: int, workers: int) -> Iterator[list]:
    """Decoded images of ``images[start:stop]`` in batches, the next batches decoded in threads meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    from addressvlm.utils.images import open_rgb

    bounds = [(b, min(b + batch_size, stop)) for b in range(start, stop, batch_size)]
    if workers <= 0:
        for lo, hi in bounds:
            yield [open_rgb(path) for path in images[lo:hi]]
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for lo, hi in bounds:
            pending.append(pool.map(open_rgb, images[lo:hi]))
            if len(pending) > workers:
                yield list(pending.pop(0))
        for batch in pending:
            yield list(batch)


def embed_images(
    images: Sequence[str],
    encoder: ImageEncoder,
    work_dir: str | os.PathLike | None = None,
    *,
    batch_size: int = 32,
    shard_size: int = 4096,
    workers: int = 2,
    show_progress: bool = True,
    desc: str = "embed",
) -> list[Path] | np.ndarray:
    """Embed image files in batches, optionally into resumable shards.

    Args:
        images (`Sequence[str]`): image paths.
        encoder (`ImageEncoder`): the encoder.
        work_dir (`str` or `os.PathLike`, *optional*): write shard ``i`` (images ``i * shard_size`` ...) to
            ``work_dir/shards/{i:06d}.npy`` atomically and skip shards already there (resume). Without it the
            vectors are returned in memory.
        batch_size (`int`, *optional*, defaults to 32): images per encoder call.
        shard_size (`int`, *optional*, defaults to 4096): images per shard.
        workers (`int`, *optional*, defaults to 2): threads decoding the next batches (0: decode in this thread).
        show_progress (`bool`, *optional*, defaults to `True`): a tqdm bar in images/s.
        desc (`str`, *optional*): the bar's label.

    Returns:
        `list[Path]` (the shard files, in order) with ``work_dir``, else `np.ndarray` ``(len(images), dim)``.
    """
    from tqdm.auto import tqdm

    if batch_size < 1 or shard_size < 1:
        raise ValueError(f"batch_size and shard_size must be >= 1, got {batch_size} and {shard_size}")
    images = list(images)
    n = len(images)
    progress = partial(tqdm, total=n, unit="img", desc=desc, disable=not show_progress, dynamic_ncols=True)

    def embed(lo: int, hi: int, bar) -> np.ndarray:
        parts = []
        for batch in _batches(images, lo, hi, batch_size, workers):
            parts.append(encoder.embed(batch))
            bar.update(len(batch))
        return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), np.float32)

    if work_dir is None:
        with progress() as bar:
            return embed(0, n, bar)
    folder = Path(work_dir) / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    shards = [folder / f"{i:06d}.npy" for i in range(math.ceil(n / shard_size))]
    todo = [i for i, path in enumerate(shards) if not path.is_file()]
    done = n - sum(min(n, (i + 1) * shard_size) - i * shard_size for i in todo)
    if done:
        logger.info("Resuming: %d of %d images already embedded in %s", done, n, folder)
    with progress(initial=done) as bar:
        for i in todo:
            _save_npy(shards[i], embed(i * shard_size, min(n, (i + 1) * shard_size), bar))
    return shards


def _check_plan(work: Path, plan: dict[str, Any], where: str) -> None:
    """Record what a build embeds, or refuse to resume one that embedded other images or with another encoder."""
    file = work / "plan.json"
    if not file.is_file():
        work.mkdir(parents=True, exist_ok=True)
        atomic_write_json(file, plan)
        return
    previous = json.loads(file.read_text(encoding="utf-8"))
    check_same_encoder(previous["encoder"], plan["encoder"], f"the unfinished build in {work}")
    for key in ("images", "n", "shard_size"):
        if previous.get(key) != plan.get(key):
            raise ValueError(
                f"the unfinished build in {work} embedded other images ({key}: {previous.get(key)!r} before, "
                f"{plan.get(key)!r} now); pass --overwrite (overwrite=True) to start {where} again"
            )


def _embed_resumably(images, encoder, identity, work: Path, what: str, batch_size, shard_size, workers, show_progress,
                     desc: str = "embed") -> list[Path]:  # fmt: skip
    """Check (or record) the plan of a resumable embedding in ``work``, then embed ``images`` into its shards."""
    plan = {"encoder": identity, "images": _digest(images), "n": len(images), "shard_size": shard_size}
    _check_plan(work, plan, what)
    return embed_images(images, encoder, work, batch_size=batch_size, shard_size=shard_size, workers=workers,
                        show_progress=show_progress, desc=desc)  # fmt: skip


def _read_shards(shards: Sequence[Path]) -> Iterator[np.ndarray]:
    for path in shards:
        yield np.load(path, mmap_mode="r")


def _train_sample(shards: Sequence[Path], n: int, size: int, seed: int) -> np.ndarray:
    """``size`` vectors drawn without replacement (all when ``size >= n``), gathered shard by shard."""
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False)) if size < n else np.arange(n)
    parts, offset = [], 0
    for array in _read_shards(shards):
        local = chosen[(chosen >= offset) & (chosen < offset + len(array))] - offset
        if len(local):
            parts.append(np.asarray(array[local], dtype=np.float32))
        offset += len(array)
    return np.ascontiguousarray(np.concatenate(parts))


def new_faiss_index(spec: IndexSpec, dim: int, n: int) -> tuple[Any, str, int]:
    """An empty FAISS index for ``n`` vectors of width ``dim`` (inner product), its factory string, and how many
    vectors to train it on (0 when it needs no training): 64 per inverted list and per PQ centroid, at least
    10,000, at most 500,000 and ``n``."""
    faiss = _faiss()
    factory = spec.factory_string(dim, n)
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if index.is_trained:
        return index, factory, 0
    nlist = faiss.extract_index_ivf(index).nlist if "IVF" in factory else 1
    return index, factory, min(n, max(64 * nlist, 64 * 256, 10_000), 500_000)


def _make_index(spec: IndexSpec, dim: int, shards: Sequence[Path], n: int, seed: int, show_progress: bool):
    from tqdm.auto import tqdm

    index, factory, size = new_faiss_index(spec, dim, n)
    if size:
        logger.info("Training the %s index on %d of %d vectors", factory, size, n)
        index.train(_train_sample(shards, n, size, seed))
    with tqdm(total=n, unit="vec", desc="index", disable=not show_progress, dynamic_ncols=True) as bar:
        for array in _read_shards(shards):
            index.add(np.ascontiguousarray(array, dtype=np.float32))
            bar.update(len(array))
    _set_nprobe(index, spec.nprobe)
    return index, factory


def _set_nprobe(index, nprobe: int | None) -> None:
    faiss = _faiss()
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:  # not an IVF index
        return
    if nprobe:
        ivf.nprobe = int(min(nprobe, ivf.nlist))


def _write_index_folder(folder: Path, index, rows, info: dict[str, Any]) -> None:
    from datasets import Dataset

    faiss = _faiss()
    faiss.write_index(index, str(folder / INDEX_FILE))
    table = rows if not hasattr(rows, "columns") else Dataset.from_pandas(rows, preserve_index=False)
    table.save_to_disk(str(folder / ROWS_DIR))
    atomic_write_json(folder / INFO_FILE, info)


# ---------------------------------------------------------------------------------------------------- build / add
def build_index(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    encoder: str | ImageEncoder = "efficientnet-lite0",
    *,
    split: str | None = "train",
    spec: IndexSpec | None = None,
    batch_size: int = 32,
    shard_size: int = 4096,
    workers: int = 2,
    device: str = "cpu",
    image_size: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Embed every image of a VQA split or metadata table and write an address index (resumable).

    Args:
        source (`str` or `os.PathLike`): a VQA dataset folder or a metadata table (see `read_source_rows`).
        output_dir (`str` or `os.PathLike`): the index folder. An unfinished build there resumes.
        encoder (`str` or `ImageEncoder`, *optional*, defaults to ``"efficientnet-lite0"``): an encoder spec (see
            `addressvlm.retrieval.encoders.parse_encoder_spec`) or a loaded encoder. The CLI's default is SigLIP.
        split (`str`, *optional*, defaults to ``"train"``): the split to index.
        spec (`IndexSpec`, *optional*): the FAISS index (default exact ``flat``).
        batch_size (`int`, *optional*, defaults to 32): images per encoder call.
        shard_size (`int`, *optional*, defaults to 4096): images per resumable shard.
        workers (`int`, *optional*, defaults to 2): image-decoding threads.
        device (`str`, *optional*, defaults to ``"cpu"``): where the encoder runs.
        image_size (`int`, *optional*): input size of ``efficientnet-lite0``.
        seed (`int`, *optional*, defaults to 0): seed of the training sample of IVF / PQ indexes.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing index (and discard an unfinished
            build's vectors).
        show_progress (`bool`, *optional*, defaults to `True`): progress bars.

    Returns:
        `Path`: ``output_dir``.

    Raises:
        `FileExistsError`: ``output_dir`` holds an index or other files (without ``overwrite``).
        `ValueError`: an unfinished build there used another encoder or other images.
    """
    spec = spec or IndexSpec()
    out = check_output_folder(output_dir)
    work = out / WORK_DIR
    if (out / INFO_FILE).exists() and not overwrite:
        raise FileExistsError(
            f"{out} already holds an index; `addressvlm index add` adds images to it, --overwrite replaces it"
        )
    if out.is_dir() and not overwrite and not work.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists, is not empty and is not an index folder; choose another --output")
    if overwrite and work.is_dir():
        shutil.rmtree(work)
    rows, source_info = read_source_rows(source, split)
    if isinstance(encoder, str):
        encoder = load_encoder(encoder, device=device, image_size=image_size)
    identity = encoder.identity()
    images = rows["image"].tolist()
    shards = _embed_resumably(images, encoder, identity, work, "the build", batch_size, shard_size, workers,
                              show_progress)  # fmt: skip
    index, factory = _make_index(spec, identity["dim"], shards, len(images), seed, show_progress)
    info = {
        "format_version": FORMAT_VERSION,
        "encoder": identity,
        "metric": "inner_product",
        "normalised": True,
        "index": {**asdict(spec), "factory": factory},
        "count": int(index.ntotal),
        "sources": [source_info],
        "locations": int(rows["location_id"].nunique()),
    }
    with atomic_output_dir(out, overwrite=True) as tmp:
        _write_index_folder(tmp, index, rows, info)
    logger.info(
        "Wrote %s: %d images, %s, encoder %s (%d-d)", out, index.ntotal, factory, identity["spec"], identity["dim"]
    )
    return out


def add_to_index(
    index_dir: str | os.PathLike,
    source: str | os.PathLike,
    encoder: str | ImageEncoder | None = None,
    *,
    split: str | None = "train",
    batch_size: int = 32,
    shard_size: int = 4096,
    workers: int = 2,
    device: str = "cpu",
    image_size: int | None = None,
    show_progress: bool = True,
) -> int:
    """Embed the images of ``source`` that the index does not hold yet and add them (resumable).

    Args:
        index_dir (`str` or `os.PathLike`): an index folder written by `build_index`.
        source (`str` or `os.PathLike`): a VQA dataset folder or a metadata table.
        encoder (`str` or `ImageEncoder`, *optional*): must be the index's encoder; by default it is loaded from
            ``index_info.json``.
        split (`str`, *optional*, defaults to ``"train"``): the split to add.
        batch_size, shard_size, workers, device, image_size, show_progress: as in `build_index`.

    Returns:
        `int`: the number of images added (images already indexed, by path, are skipped).

    Raises:
        `ValueError`: ``encoder`` is not the index's encoder.
    """
    from datasets import Dataset, concatenate_datasets

    folder = Path(index_dir)
    index = AddressIndex.load(folder)
    if encoder is None:
        encoder = load_encoder_from_identity(index.info["encoder"], device=device)
    elif isinstance(encoder, str):
        encoder = load_encoder(encoder, device=device, image_size=image_size)
    identity = encoder.identity()
    check_same_encoder(index.info["encoder"], identity, f"the index {folder}")
    rows, source_info = read_source_rows(source, split)
    known = set(index.rows["image"])
    new = rows[~rows["image"].isin(known)].reset_index(drop=True)
    if len(new) < len(rows):
        logger.info("%d of %d images are already in %s; skipped", len(rows) - len(new), len(rows), folder)
    if new.empty:
        return 0
    work = folder / ADD_WORK_DIR
    images = new["image"].tolist()
    shards = _embed_resumably(images, encoder, identity, work, "adding", batch_size, shard_size, workers,
                              show_progress, desc="embed (add)")  # fmt: skip
    for array in _read_shards(shards):
        index.index.add(np.ascontiguousarray(array, dtype=np.float32))
    table = concatenate_datasets([index.rows, Dataset.from_pandas(new, preserve_index=False)])
    info = dict(index.info)
    info["count"] = int(index.index.ntotal)
    info["sources"] = [*info.get("sources", []), source_info]
    info["locations"] = len(set(table["location_id"]))
    with atomic_output_dir(folder, overwrite=True) as tmp:
        _write_index_folder(tmp, index.index, table.flatten_indices(), info)
    logger.info("Added %d images to %s (now %d)", len(new), folder, info["count"])
    return len(new)


# ---------------------------------------------------------------------------------------------------- loading
class AddressIndex:
    r"""
    A loaded address index: search by vector, rows with their addresses, and the encoder for queries.

    Load with `AddressIndex.load`. Row ``i`` of `rows` describes vector ``i``.

    Attributes:
        path (`Path`): the folder.
        info (`dict`): ``index_info.json``.
        index (`faiss.Index`): the FAISS index.
        rows (`datasets.Dataset`): image, id, location_id, street, district, city, lat, lon per vector.
    """

    def __init__(self, path: Path, info: dict[str, Any], index, rows):
        self.path = path
        self.info = info
        self.index = index
        self.rows = rows
        self.locations = np.asarray(list(rows["location_id"]), dtype=object)
        self.streets = np.asarray(list(rows["street"]), dtype=object)
        self.districts = np.asarray(list(rows["district"]), dtype=object)
        self._per_location = Counter(self.locations.tolist())
        self._encoder: ImageEncoder | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> AddressIndex:
        """Open an index folder.

        Raises:
            `FileNotFoundError`: not an index folder (or an unfinished build). `ValueError`: the files disagree.
        """
        from datasets import Dataset

        faiss = _faiss()
        folder = Path(path)
        info_file = folder / INFO_FILE
        if not info_file.is_file():
            message = f"{folder} is not an address index: {INFO_FILE} is missing"
            if (folder / WORK_DIR).is_dir():
                message += " (an unfinished build: run the same `addressvlm index build` again)"
            raise FileNotFoundError(message)
        info = json.loads(info_file.read_text(encoding="utf-8"))
        if info.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{info_file}: unknown index format {info.get('format_version')!r}")
        index = faiss.read_index(str(folder / INDEX_FILE))
        rows = Dataset.load_from_disk(str(folder / ROWS_DIR))
        if not (index.ntotal == len(rows) == info.get("count")):
            raise ValueError(
                f"{folder} is damaged: {index.ntotal} vectors, {len(rows)} rows, count {info.get('count')}; "
                "rebuild it with --overwrite"
            )
        missing = [c for c in ROW_COLUMNS if c not in rows.column_names]
        if missing:
            raise ValueError(f"{folder / ROWS_DIR} lacks the column(s) {missing}")
        _set_nprobe(index, info.get("index", {}).get("nprobe"))
        return cls(folder, info, index, rows)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def nprobe(self) -> int | None:
        """Inverted lists visited per query (`None` for indexes without lists); settable."""
        try:
            return int(_faiss().extract_index_ivf(self.index).nprobe)
        except RuntimeError:
            return None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        _set_nprobe(self.index, value)

    def encoder(self, device: str = "cpu") -> ImageEncoder:
        """The index's encoder (loaded once, weights checked against the recorded fingerprint)."""
        if self._encoder is None:
            self._encoder = load_encoder_from_identity(self.info["encoder"], device=device)
        return self._encoder

    def embed(self, images: Sequence, batch_size: int = 32, device: str = "cpu", show_progress: bool = False):
        """Embed query images (paths) with the index's encoder."""
        return embed_images(
            list(images),
            self.encoder(device),
            batch_size=batch_size,
            show_progress=show_progress,
            desc="embed queries",
        )

    def address(self, row: int) -> str:
        """``"{street}, {district}"`` of row ``row`` (the street_district reference format)."""
        return f"{self.streets[row]}, {self.districts[row]}"

    def location_overlap(self, location_ids) -> list[str]:
        """The given location ids that the index holds (sorted)."""
        return sorted({str(loc) for loc in location_ids} & self._per_location.keys())

    def search(
        self,
        queries: np.ndarray,
        k: int,
        exclude_locations: Sequence[str | None] | None = None,
        dissimilar: bool = False,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The ``k`` most similar (or, with ``dissimilar``, least similar) rows of each query.

        Dissimilar rows are found as Img2Loc and G3 do: the nearest rows of the negated query under inner product.

        Args:
            queries (`np.ndarray`): ``(n, dim)`` L2-normalised query vectors.
            k (`int`): rows per query.
            exclude_locations (`Sequence[str | None]`, *optional*): per query, a location id whose rows must not be
                returned (a training image's own location; its other views would give its address away).
            dissimilar (`bool`, *optional*, defaults to `False`): search with ``-query``.

        Returns:
            `tuple[list[np.ndarray], list[np.ndarray]]`: per query, the row numbers (best first; fewer than ``k``
            only when the index has fewer eligible rows) and their cosine similarities to the query.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.index.d:
            raise ValueError(f"queries must be (n, {self.index.d}), got {queries.shape}")
        if k <= 0 or len(queries) == 0:
            return [np.zeros(0, np.int64)] * len(queries), [np.zeros(0, np.float32)] * len(queries)
        if exclude_locations is not None and len(exclude_locations) != len(queries):
            raise ValueError(f"{len(exclude_locations)} locations to exclude for {len(queries)} queries")
        extra = 0
        if exclude_locations is not None:
            extra = max((self._per_location.get(str(loc), 0) for loc in exclude_locations if loc), default=0)
        wanted = min(k + extra, len(self))
        scores, ids = self.index.search(-queries if dissimilar else queries, wanted)
        if dissimilar:
            scores = -scores
        rows, sims = [], []
        for i in range(len(queries)):
            keep = ids[i] >= 0
            if exclude_locations is not None and exclude_locations[i]:
                keep &= self.locations[np.maximum(ids[i], 0)] != str(exclude_locations[i])
            rows.append(ids[i][keep][:k].astype(np.int64))
            sims.append(scores[i][keep][:k].astype(np.float32))
        return rows, sims
