"""Locatability (GeoReasoner): the packaged weights, the scoring arithmetic against the offline city's ground truth,
the filter and ``addressvlm data locatability`` with a tiny random ADE20K segmentation model."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from addressvlm.cli import main
from addressvlm.data.locatability import (
    class_fractions,
    filter_by_locatability,
    load_locatability_weights,
    locatability_scores,
    score_images,
    weights_for_labels,
)
from addressvlm.data.metadata import read_metadata
from addressvlm.synthetic.street_view import (
    SCENE_CLASSES,
    UNLABELLED,
    assign_street_codes,
    district_style,
    render_street_view,
)


WEIGHTS = load_locatability_weights()


def test_packaged_weights_are_georeasoners():
    assert len(WEIGHTS.names) == 150 and WEIGHTS.weights.shape == (150,)
    assert WEIGHTS.names[0] == "wall" and WEIGHTS.names[149] == "flag"
    assert WEIGHTS.weight("road") == 1.0 == WEIGHTS.weights.max()
    expected = {"column": 0.567, "path": 0.543, "signboard": 0.491, "traffic light": 0.486, "street lamp": 0.476}
    expected.update({"sidewalk": 0.453, "land": 0.424, "pole": 0.331})
    for name, weight in expected.items():
        assert WEIGHTS.weight(name) == pytest.approx(weight, abs=5e-4), name
    zero = [WEIGHTS.names[i] for i in np.flatnonzero(WEIGHTS.weights == 0)]
    assert zero == ["armchair", "swivel chair"]
    # the renderer's class ids name the same classes as the weights
    for name, index in SCENE_CLASSES.items():
        assert WEIGHTS.weight(name) == WEIGHTS.weights[index]


def _city_views(count: int = 6, size: int = 48):
    """Street views of the offline city's renderer with the class of every pixel (what was drawn where)."""
    codes = assign_street_codes(["Main Street", "Side Street"], seed=0)
    views = []
    for i in range(count):
        image, labels = render_street_view(
            "Main Street",
            district_style(i % 3),
            codes["Main Street"],
            along=bool(i % 2),
            show_sign=i % 3 == 0,
            rng=np.random.default_rng(i),
            size=(size, size),
            return_labels=True,
        )
        views.append((image, labels))
    return views


class _OracleSegmenter(torch.nn.Module):
    """Answers each forward pass with the ground-truth label maps of the images, in order, as one-hot logits."""

    def __init__(self, label_maps):
        super().__init__()
        self.pending = list(label_maps)
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.config = type("Config", (), {"id2label": {i: n for i, n in enumerate(WEIGHTS.names)}})()

    def forward(self, pixel_values):
        maps = [self.pending.pop(0) for _ in range(len(pixel_values))]
        logits = torch.full((len(maps), 150, *maps[0].shape), -10.0)
        for row, label_map in enumerate(maps):
            ids = torch.as_tensor(label_map.astype(np.int64))
            inside = ids < 150
            logits[row].view(150, -1)[ids[inside].view(-1), torch.nonzero(inside.view(-1)).view(-1)] = 10.0
            # unlabelled pixels: class 149 ("flag") wins there, a class the renderer never draws
            logits[row, 149][~inside] = 10.0
        return type("Output", (), {"logits": logits})()


class _Processor:
    """A plain processor: pixels to tensors, and post-processing as transformers' segmenters do (argmax per pixel,
    at each image's own size)."""

    def __call__(self, images, return_tensors="pt"):
        from transformers import BatchFeature

        pixels = np.stack([np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255 for image in images])
        return BatchFeature({"pixel_values": torch.from_numpy(pixels)})

    def post_process_semantic_segmentation(self, outputs, target_sizes):
        logits = torch.nn.functional.interpolate(outputs.logits, size=target_sizes[0], mode="bilinear")
        return list(logits.argmax(dim=1))


def test_scores_match_the_city_ground_truth_exactly(tmp_path):
    views = _city_views()
    paths = []
    for i, (image, _) in enumerate(views):
        paths.append(tmp_path / f"view{i}.png")
        image.save(paths[-1])
    truth = [labels for _, labels in views]
    scores, fractions = score_images(paths, _OracleSegmenter(truth), _Processor(), WEIGHTS.weights, batch_size=4)

    for i, labels in enumerate(truth):
        pixels = labels.size
        # the known fractions of what the renderer drew, weighted by hand
        by_name = {name: np.count_nonzero(labels == index) / pixels for name, index in SCENE_CLASSES.items()}
        expected = sum(WEIGHTS.weight(name) * share for name, share in by_name.items())
        expected += WEIGHTS.weight("flag") * np.count_nonzero(labels == UNLABELLED) / pixels
        assert scores[i] == pytest.approx(expected, abs=1e-12)
        assert fractions[i, SCENE_CLASSES["road"]] == by_name["road"]
        assert fractions[i].sum() == pytest.approx(1.0)
    # views with a street sign show a signboard; its weight adds to their score
    assert all(fractions[i, SCENE_CLASSES["signboard"]] > 0 for i in (0, 3))
    assert all(fractions[i, SCENE_CLASSES["signboard"]] == 0 for i in (1, 2, 4, 5))


def test_fractions_and_scores_on_a_known_map():
    label_map = np.array([[6, 6, 6, 6], [11, 11, 2, 2], [1, 1, 1, 255], [43, 30, 30, 200]])
    fractions = class_fractions(label_map, 150)
    assert fractions[6] == 4 / 16 and fractions[11] == 2 / 16 and fractions[43] == 1 / 16
    assert fractions.sum() == 14 / 16  # 255 and 200 are no class
    road, sidewalk, sky, building, sign = (WEIGHTS.weight(n) for n in ("road", "sidewalk", "sky", "building", "sign"))
    expected = (4 * road + 2 * sidewalk + 2 * sky + 3 * building + sign + 2 * 0.0) / 16
    assert locatability_scores(fractions, WEIGHTS.weights) == pytest.approx(expected, abs=1e-12)
    both = locatability_scores(np.stack([fractions, np.eye(150)[6]]), WEIGHTS.weights)
    assert both.tolist() == pytest.approx([expected, 1.0])


def test_filter_keeps_the_top_fraction():
    scores = np.array([0.10, 0.90, 0.30, 0.30, 0.70, 0.05, 0.50, 0.30])
    keep = filter_by_locatability(scores, top_fraction=0.5)
    assert np.flatnonzero(keep).tolist() == [1, 2, 4, 6]  # 0.9, 0.7, 0.5 and the first of the tied 0.3s
    assert filter_by_locatability(scores, top_fraction=0.3).sum() == math.ceil(0.3 * 8) == 3
    assert filter_by_locatability(scores, top_fraction=1.0).all()
    assert np.flatnonzero(filter_by_locatability(scores, threshold=0.3)).tolist() == [1, 4, 6]  # strictly above
    with pytest.raises(ValueError, match="exactly one"):
        filter_by_locatability(scores, top_fraction=0.5, threshold=0.4)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        filter_by_locatability(scores, top_fraction=1.5)


def test_model_label_sets_are_checked():
    id2label = {i: name.split(",")[0] for i, name in enumerate(WEIGHTS.names)}
    assert weights_for_labels(id2label, WEIGHTS)[6] == 1.0
    with pytest.raises(ValueError, match="predicts 19 classes"):
        weights_for_labels({i: str(i) for i in range(19)}, WEIGHTS, "cityscapes-model")
    shuffled = {i: id2label[(i + 1) % 150] for i in range(150)}
    with pytest.raises(ValueError, match="do not follow the ADE20K order"):
        weights_for_labels(shuffled, WEIGHTS, "shuffled-model")


def test_weights_file_errors_name_the_entry(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"classes": [{"id": 0, "name": "road", "weight": 1}, {"id": 2, "name": "x"}]}))
    with pytest.raises(ValueError, match=r"classes\[1\]: each class needs"):
        load_locatability_weights(path)
    path.write_text(json.dumps({"classes": [{"id": 0, "name": "road", "weight": "high"}]}))
    with pytest.raises(ValueError, match=r"classes\[0\] \('road'\): 'weight' must be a finite number"):
        load_locatability_weights(path)


@pytest.fixture(scope="module")
def tiny_segmenter(tmp_path_factory):
    """A tiny random SegFormer with the 150 ADE20K labels, saved with its image processor (no download)."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(0)
    id2label = {i: name.split(",")[0] for i, name in enumerate(WEIGHTS.names)}
    config = SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[8, 16],
        patch_sizes=[7, 3],
        strides=[4, 2],
        num_attention_heads=[1, 2],
        mlp_ratios=[2, 2],
        decoder_hidden_size=16,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    folder = tmp_path_factory.mktemp("segformer")
    SegformerForSemanticSegmentation(config).save_pretrained(folder)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture
def city_table(tmp_path):
    """A metadata table of rendered city views in ``city/`` (relative paths)."""
    rows = []
    for i, (image, _) in enumerate(_city_views(count=10, size=40)):
        name = f"images/v{i}.jpg"
        (tmp_path / "city" / "images").mkdir(parents=True, exist_ok=True)
        image.save(tmp_path / "city" / name)
        rows.append({"image": name, "location_id": f"L{i // 2}", "lat": 60.17, "lon": 24.94 + i * 1e-4})
        rows[-1].update(street=f"Street {i // 4}", district="Kluuvi")
    path = tmp_path / "city" / "metadata.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_locatability_command_writes_filtered_metadata(tiny_segmenter, city_table, tmp_path, capsys):
    output = tmp_path / "out" / "locatability"
    argv = ["data", "locatability", str(city_table), "--output", str(output), "--model", str(tiny_segmenter)]
    assert main([*argv, "--top-fraction", "0.3", "--batch-size", "3", "--no-progress"]) == 0
    assert "kept 3 of 10" in capsys.readouterr().out

    scores = pd.read_csv(output / "scores.csv")
    assert len(scores) == 10 and scores["locatability"].between(0, 1).all()
    top = scores["locatability"].sort_values(ascending=False, kind="stable").index[:3]
    assert sorted(scores.index[scores["kept"]]) == sorted(top)
    kept = read_metadata(output / "metadata.csv", check_images=True)  # valid, and its paths find the images
    assert sorted(kept["image"].map(lambda p: p.split("/")[-1])) == sorted(
        scores.loc[scores["kept"], "image"].map(lambda p: p.split("/")[-1])
    )
    info = json.loads((output / "locatability_info.json").read_text())
    assert info["n_images"] == 10 and info["n_kept"] == 3 and info["filter"]["top_fraction"] == 0.3
    with Image.open(output / "histogram.png") as png:
        assert png.size[0] > 100

    # an existing output needs --overwrite; a threshold above every score keeps nothing and says so
    assert main([*argv, "--threshold", "0.1"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert main([*argv, "--threshold", "2.0", "--overwrite", "--no-progress"]) == 2
    assert "no image passes the filter" in capsys.readouterr().err
    assert (output / "scores.csv").is_file()  # the earlier output is untouched


def test_locatability_rejects_a_model_without_ade20k_labels(tmp_path, city_table, capsys):
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], patch_sizes=[7])
    config.update({"strides": [4], "num_attention_heads": [1], "mlp_ratios": [2], "decoder_hidden_size": 8})
    config.num_labels = 19
    SegformerForSemanticSegmentation(config).save_pretrained(tmp_path / "model")
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "model")
    argv = ["data", "locatability", str(city_table), "--output", str(tmp_path / "out"), "--model"]
    assert main([*argv, str(tmp_path / "model"), "--no-progress"]) == 2
    assert "predicts 19 classes" in capsys.readouterr().err


def test_city_class_fractions_score_exactly(small_city, tmp_path, capsys):
    """The offline city writes what it drew where; scoring from those known fractions is the weighted sum."""
    from pathlib import Path

    city = Path(small_city.output_dir)
    shares = pd.read_csv(city / "class_fractions.csv")
    metadata = pd.read_csv(city / "metadata.csv")
    assert shares["image"].tolist() == metadata["image"].tolist()
    classes = [*SCENE_CLASSES, "unlabelled"]
    assert list(shares.columns) == ["image", *classes]
    assert np.allclose(shares[classes].sum(axis=1), 1.0, atol=1e-5)
    assert (shares["road"] > 0).all() and (shares["building"] > 0).all()
    signs = shares["signboard"] > 0
    assert 0 < signs.sum() < len(shares)  # only some views show a street sign

    output = tmp_path / "loc"
    argv = ["data", "locatability", str(city / "metadata.csv"), "--output", str(output)]
    assert main([*argv, "--fractions", str(city / "class_fractions.csv"), "--top-fraction", "0.5"]) == 0
    scores = pd.read_csv(output / "scores.csv")
    expected = sum(WEIGHTS.weight(name) * shares[name] for name in SCENE_CLASSES)
    assert np.allclose(scores["locatability"], expected, atol=2e-6)
    assert scores["kept"].sum() == math.ceil(len(scores) / 2)
    assert scores.loc[scores["kept"], "locatability"].min() >= scores.loc[~scores["kept"], "locatability"].max()
    # a road fills more of the view looking along the street, and it weighs most: those views score higher
    along = scores["locatability"][shares["road"] > shares["road"].median()].mean()
    assert along > scores["locatability"][shares["road"] <= shares["road"].median()].mean()
    assert json.loads((output / "locatability_info.json").read_text())["model"].startswith("class fractions from")


def test_fractions_file_errors(city_table, tmp_path, capsys):
    bad = tmp_path / "fractions.csv"
    pd.DataFrame({"image": ["images/v0.jpg"], "road": [0.5]}).to_csv(bad, index=False)
    argv = ["data", "locatability", str(city_table), "--output", str(tmp_path / "o"), "--fractions", str(bad)]
    assert main(argv) == 2
    assert "no class fractions for 9 image(s)" in capsys.readouterr().err
    names = [f"images/v{i}.jpg" for i in range(10)]
    pd.DataFrame({"image": names, "road": [0.5] * 10, "spaceship": [0.1] * 10}).to_csv(bad, index=False)
    assert main(argv) == 2
    assert "column 'spaceship' names no class" in capsys.readouterr().err
    pd.DataFrame({"image": names, "road": [0.5] * 9 + [1.5]}).to_csv(bad, index=False)
    assert main(argv) == 2
    assert "row 10, column 'road': '1.5' is not a fraction" in capsys.readouterr().err
