"""The street-distribution probe: matching, counting, top-3, counts JSON and the map PNG."""

import json

import pytest
from PIL import Image

from addressvlm.inference import StreetMatcher, probe_prompt, probe_street_distribution
from addressvlm.inference.cli import main as cli_main
from addressvlm.inference.shared_prefix import SharedPrefixAnswerer
from addressvlm.inference.street_map import OSM_CREDIT, load_geojson_streets


STREETS = ["Aleksanterinkatu", "Forbes Avenue", "Kaivokatu", "Mannerheimintie", "Market Street"]


def _geojson(path):
    features = []
    for i, name in enumerate(STREETS):
        line = [[24.940 + 0.002 * i, 60.168], [24.941 + 0.002 * i, 60.176]]
        geometry = {"type": "LineString", "coordinates": line}
        if i == 1:
            geometry = {"type": "MultiLineString", "coordinates": [line, [[24.930, 60.170], [24.935, 60.171]]]}
        features.append({"type": "Feature", "properties": {"name": name}, "geometry": geometry})
    features.append({"type": "Feature", "properties": {"name": "A park"}, "geometry": {"type": "Point"}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_matcher_uses_the_metric_normalisation():
    match = StreetMatcher(STREETS)
    assert match("forbes ave") == "Forbes Avenue"
    assert match("  MARKET ST. ") == "Market Street"
    assert match("Kaivokatu, Kluuvi") == "Kaivokatu"  # street part of a "street, district" answer
    assert match("Kaivo") is None and match("") is None


def test_prompt_lists_candidates():
    assert probe_prompt() == "What street is this photo taken on? Answer the question using a single word or phrase."
    listed = probe_prompt(candidates=["Kaivokatu", "Aleksanterinkatu"])
    assert "following list: Kaivokatu, Aleksanterinkatu." in listed
    with pytest.raises(ValueError, match="candidates"):
        probe_prompt("Which street?", ["Kaivokatu"])


def test_geojson_reader(tmp_path):
    streets = load_geojson_streets(_geojson(tmp_path / "streets.geojson"))
    assert sorted(streets) == STREETS and len(streets["Forbes Avenue"]) == 2
    assert streets["Kaivokatu"][0].shape == (2, 2)
    (tmp_path / "bad.geojson").write_text('{"type": "Feature"}')
    with pytest.raises(ValueError, match="bad.geojson: expected a GeoJSON FeatureCollection"):
        load_geojson_streets(tmp_path / "bad.geojson")


def test_counts_top3_json_and_map(tiny_llava, make_image, tmp_path, monkeypatch):
    """Scripted samples: 5x Kaivokatu, 3x "forbes ave", 1x Market St, 1 invalid per batch of 10."""
    model, processor = tiny_llava
    script = ["Kaivokatu"] * 5 + ["forbes ave"] * 3 + ["Market St", "somewhere"]
    monkeypatch.setattr(SharedPrefixAnswerer, "generate", lambda self, prefixes, ids: script[: len(ids)])
    path = tmp_path / "img.png"
    make_image(0).save(path)
    rows = [{"id": "test-0000000", "image": str(path), "street": "Forbes Avenue", "lat": 60.17, "lon": 24.942}]
    geometries = load_geojson_streets(_geojson(tmp_path / "streets.geojson"))
    report = probe_street_distribution(
        model, processor, rows, STREETS, tmp_path / "probe", samples=20, batch_size=10, geometries=geometries
    )
    entry = report["images"][0]
    assert entry["counts"] == {"Kaivokatu": 10, "Forbes Avenue": 6, "Market Street": 2}
    assert [t["street"] for t in entry["top"]] == ["Kaivokatu", "Forbes Avenue", "Market Street"]
    assert entry["top"][0]["share"] == 0.5 and entry["valid"] == 18 and entry["invalid"] == 2
    assert entry["true_street_rank"] == 2 and entry["invalid_examples"] == {"somewhere": 2}
    saved = json.loads((tmp_path / "probe" / "probe_counts.json").read_text())
    assert saved == report and saved["settings"]["temperature"] == 0.8 and saved["settings"]["samples"] == 20
    with Image.open(tmp_path / "probe" / entry["map"]) as image:
        assert image.format == "PNG" and image.size[0] > 400
        assert OSM_CREDIT in image.text.get("Copyright", "")


def test_tiny_model_zero_shot_variant_without_geometries(tiny_llava, make_image, tmp_path):
    model, processor = tiny_llava
    rows = []
    for i in range(2):
        make_image(i).save(tmp_path / f"{i}.png")
        rows.append({"id": f"r{i}", "image": str(tmp_path / f"{i}.png"), "street": STREETS[i]})
    report = probe_street_distribution(
        model, processor, rows, STREETS, tmp_path / "probe", samples=6, batch_size=4, max_new_tokens=6,
        candidates={"r0": ["Kaivokatu", "Forbes Avenue"]}, show_progress=False,
    )  # fmt: skip
    first, second = report["images"]
    assert "list: Forbes Avenue, Kaivokatu." in first["prompt"] and "list" not in second["prompt"]
    assert first["valid"] + first["invalid"] == 6 and first["map"] is None
    assert (tmp_path / "probe" / "probe_counts.json").exists() and not list((tmp_path / "probe").glob("*.png"))


def test_probe_cli_on_a_dataset(tiny_checkpoint, vqa_dataset, tmp_path, capsys):
    dataset_dir, _ = vqa_dataset(n_images=2)
    geojson = _geojson(tmp_path / "streets.geojson")
    out = tmp_path / "probe"
    argv = ["probe", "--model", tiny_checkpoint, "--dataset", str(dataset_dir), "--output-dir", str(out)]
    argv += ["--limit", "1", "--samples", "4", "--max-new-tokens", "4", "--streets-geojson", str(geojson)]
    assert cli_main([*argv, "--no-progress", "--list-candidates"]) == 0
    report = json.loads((out / "probe_counts.json").read_text())
    assert [e["id"] for e in report["images"]] == ["test-0000000"] and report["settings"]["candidates_listed"]
    assert (out / "map_test-0000000.png").stat().st_size > 0
    assert "test-0000000 (true: Aleksanterinkatu" in capsys.readouterr().out
