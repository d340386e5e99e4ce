"""Index build / load / add round trip, index types, encoder mixing refused, resumable build after a kill."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from addressvlm.cli import main
from addressvlm.data import load_address_dataset
from addressvlm.retrieval import AddressIndex, IndexSpec, add_to_index, build_index
from addressvlm.retrieval.encoders import EfficientNetLite0Encoder
from addressvlm.retrieval.index import INFO_FILE, WORK_DIR


ROOT = Path(__file__).resolve().parents[2]


def test_build_load_add_round_trip(city, lite0, train_index, tmp_path):
    _, vqa = city
    splits = load_address_dataset(vqa)
    train, validation = splits["train"], splits["validation"]
    index = AddressIndex.load(train_index)
    assert len(index) == len(train) == index.info["count"]
    assert list(index.rows["image"]) == list(train["image"]) and list(index.rows["street"]) == list(train["street"])
    assert index.info["encoder"]["spec"] == "efficientnet-lite0" and index.info["encoder"]["dim"] == 1280
    assert index.info["encoder"]["settings"]["image_size"] == 64
    assert index.info["index"]["factory"] == "Flat" and index.info["metric"] == "inner_product"
    assert index.info["sources"][0]["split"] == "train" and not (train_index / WORK_DIR).exists()

    # every training image finds itself first, at cosine 1, and the vectors are unit length
    vectors = lite0.embed(list(train["image"])[:5])
    rows, scores = index.search(vectors, 3)
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([s[0] for s in scores], 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(index.index.reconstruct_n(0, len(index)), axis=1), 1.0, atol=1e-5)

    # add the validation split: appended rows and vectors, found again; adding twice adds nothing
    copy = tmp_path / "index"
    shutil.copytree(train_index, copy)
    assert add_to_index(copy, vqa, split="validation", show_progress=False) == len(validation)
    grown = AddressIndex.load(copy)
    assert len(grown) == len(train) + len(validation) == grown.info["count"]
    assert list(grown.rows["image"]) == list(train["image"]) + list(validation["image"])
    assert [s["split"] for s in grown.info["sources"]] == ["train", "validation"]
    rows, _ = grown.search(lite0.embed(list(validation["image"])[:2]), 1)
    assert [r[0] for r in rows] == [len(train), len(train) + 1]
    assert add_to_index(copy, vqa, split="validation", show_progress=False) == 0
    assert not (copy / ".work-add").exists()


def test_build_from_a_metadata_table_and_the_cli(city, tmp_path, capsys):
    table, _ = city
    out = tmp_path / "all"
    options = ["--encoder", "efficientnet-lite0", "--image-size", "64", "--device", "cpu", "--no-progress"]
    argv = ["index", "build", str(table), "--output", str(out), *options, "--batch-size", "7"]
    assert main(argv) == 0
    assert "48 images of 24 locations, Flat" in capsys.readouterr().out
    index = AddressIndex.load(out)
    assert list(index.rows["location_id"])[:2] == ["L000", "L000"] and os.path.isabs(index.rows["image"][0])
    assert index.info["sources"][0]["kind"] == "metadata"
    assert main(["index", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 48
    # a finished index is not rebuilt over, and an unrelated folder is not taken
    assert main(argv) == 2
    assert "already holds an index" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["index", "build", str(table), "--output", str(other), *options]) == 2
    assert "not an index folder" in capsys.readouterr().err


def test_ivf_and_ivfpq_indexes(city, lite0, tmp_path):
    _, vqa = city
    exact = AddressIndex.load(build_index(vqa, tmp_path / "flat", lite0, show_progress=False))
    spec = IndexSpec(kind="ivfpq", nlist=2, pq_m=16, pq_bits=4, nprobe=2)
    approx = AddressIndex.load(build_index(vqa, tmp_path / "pq", lite0, spec=spec, show_progress=False))
    assert approx.info["index"]["factory"] == "IVF2,PQ16x4" and approx.nprobe == 2
    assert approx.index.code_size == 8  # 16 codes of 4 bits instead of 1280 floats
    queries = exact.index.reconstruct_n(0, len(exact))
    truth, _ = exact.search(queries, 5)
    found, _ = approx.search(queries, 5)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(truth, found)])
    assert recall > 0.5
    ivf = AddressIndex.load(build_index(vqa, tmp_path / "ivf", lite0, spec=IndexSpec("ivf", nlist=2),
                                       show_progress=False))  # fmt: skip
    assert ivf.info["index"]["factory"] == "IVF2,Flat"
    with pytest.raises(ValueError, match="needs at least 1000 images"):
        IndexSpec("ivf", nlist=1000).factory_string(1280, 34)
    with pytest.raises(ValueError, match="must divide"):
        IndexSpec("ivfpq", nlist=2, pq_m=7).factory_string(1280, 5000)
    assert IndexSpec("ivfpq").factory_string(1152, 1_000_000) == "IVF4000,PQ64x8"


def test_an_index_never_mixes_encoders(city, train_index, tmp_path, capsys):
    _, vqa = city
    copy = tmp_path / "index"
    shutil.copytree(train_index, copy)
    # other settings of the same model
    with pytest.raises(ValueError, match="one index never mixes encoders"):
        add_to_index(copy, vqa, EfficientNetLite0Encoder(image_size=96), split="validation", show_progress=False)
    # other weights under the same name (e.g. a retrained checkpoint)
    changed = EfficientNetLite0Encoder(image_size=64)
    with __import__("torch").no_grad():
        next(changed.model.parameters()).add_(0.01)
    with pytest.raises(ValueError, match="fingerprint"):
        add_to_index(copy, vqa, changed, split="validation", show_progress=False)
    # the CLI says so in one line, exit 2; the index is untouched
    argv = ["index", "add", str(copy), str(vqa), "--split", "validation", "--encoder", "efficientnet-lite0"]
    assert main([*argv, "--image-size", "128", "--device", "cpu", "--no-progress"]) == 2
    assert "one index never mixes encoders" in capsys.readouterr().err
    assert AddressIndex.load(copy).info["count"] == AddressIndex.load(train_index).info["count"]
    # the index's own encoder loads again from index_info.json, and refuses other weights found under its name
    assert AddressIndex.load(copy).encoder().identity() == AddressIndex.load(copy).info["encoder"]
    info = json.loads((copy / INFO_FILE).read_text())
    info["encoder"]["fingerprint"] = "0" * 16
    (copy / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(ValueError, match="fingerprint"):
        AddressIndex.load(copy).encoder()


_KILLED_BUILD = textwrap.dedent(
    """
    import os, signal, sys
    from addressvlm.retrieval import build_index
    from addressvlm.retrieval.encoders import EfficientNetLite0Encoder

    class DiesAfterTwoShards(EfficientNetLite0Encoder):
        seen = 0
        def embed(self, images):
            DiesAfterTwoShards.seen += len(images)
            if DiesAfterTwoShards.seen > 20:  # two shards of 8 written, the third half done
                os.kill(os.getpid(), signal.SIGKILL)
            return super().embed(images)

    build_index(sys.argv[1], sys.argv[2], DiesAfterTwoShards(image_size=64), shard_size=8, batch_size=4,
                show_progress=False)
    """
)


class _Counting(EfficientNetLite0Encoder):
    def __init__(self):
        super().__init__(image_size=64)
        self.images = 0

    def embed(self, images):
        self.images += len(images)
        return super().embed(images)


def test_a_killed_build_resumes_where_it_stopped(city, train_index, tmp_path):
    _, vqa = city
    out = tmp_path / "index"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.run([sys.executable, "-c", _KILLED_BUILD, str(vqa), str(out)], env=env, cwd=tmp_path)
    assert process.returncode == -signal.SIGKILL
    shards = sorted(p.name for p in (out / WORK_DIR / "shards").iterdir())
    assert shards == ["000000.npy", "000001.npy"]  # the half-embedded third shard left nothing behind
    with pytest.raises(FileNotFoundError, match="unfinished build"):
        AddressIndex.load(out)
    # another encoder may not finish it
    with pytest.raises(ValueError, match="one index never mixes encoders"):
        build_index(vqa, out, EfficientNetLite0Encoder(image_size=96), shard_size=8, show_progress=False)
    encoder = _Counting()
    build_index(vqa, out, encoder, shard_size=8, batch_size=4, show_progress=False)
    resumed, reference = AddressIndex.load(out), AddressIndex.load(train_index)
    assert encoder.images == len(reference) - 16  # only the images after the two finished shards
    np.testing.assert_array_equal(resumed.index.reconstruct_n(0, len(resumed)),
                                  reference.index.reconstruct_n(0, len(reference)))  # fmt: skip
    assert list(resumed.rows["image"]) == list(reference.rows["image"]) and not (out / WORK_DIR).exists()
