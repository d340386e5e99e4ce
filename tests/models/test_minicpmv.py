"""MiniCPM-V 2.6, native: the published key layout, slicing and token counts, layout round trips, the resampler."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from addressvlm.models import load_pretrained
from addressvlm.models.minicpmv import MiniCPMVConfig, MiniCPMVForConditionalGeneration, export_minicpmv_hf
from addressvlm.models.minicpmv.conversion_minicpmv import ours_to_published_config, published_to_ours_config
from addressvlm.models.minicpmv.image_processing_minicpmv import MiniCPMVImageProcessor, patchify, slice_sizes
from addressvlm.models.minicpmv.resampler_minicpmv import sincos_2d
from addressvlm.models.minicpmv.tiny_minicpmv import build_tiny_minicpmv, make_minicpmv_processor


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "minicpmv_2_6_parameters.tsv"


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_minicpmv(seed=0)


def _published_parameters() -> dict[str, tuple[int, ...]]:
    rows = [line.split("\t") for line in FIXTURE.read_text().splitlines() if line and not line.startswith("#")]
    return {name: tuple(int(n) for n in shape.split("x")) for name, shape in rows}


def test_full_size_model_has_exactly_the_published_parameters():
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = MiniCPMVForConditionalGeneration(MiniCPMVConfig())
    ours = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    published = _published_parameters()
    assert len(published) == 789
    assert sorted(set(ours) - set(published)) == [] and sorted(set(published) - set(ours)) == []
    assert ours == published


def test_published_config_maps_to_ours_and_back():
    published = ours_to_published_config(MiniCPMVConfig())
    assert published["model_type"] == "minicpmv" and published["auto_map"]["AutoModel"].startswith("openbmb/")
    assert published["slice_config"]["max_slice_nums"] == 9 and published["query_num"] == 64
    again = published_to_ours_config(published)
    assert again.text_config.num_hidden_layers == 28 and again.vision_config.num_hidden_layers == 27
    dropped = published_to_ours_config({**published, "drop_vision_last_layer": True})
    assert dropped.vision_config.num_hidden_layers == 26


@pytest.mark.parametrize(
    "size,grid,queries,overview,cell",
    [
        ((448, 448), None, 64, (448, 448), None),  # one slice's worth: resized only
        ((1344, 1344), (3, 3), 640, (448, 448), (448, 448)),  # 9 slices + overview = 10 x 64
        ((640, 480), (2, 1), 192, (518, 392), (364, 546)),  # 2 slices side by side + overview
        ((336, 336), None, 64, (448, 448), None),  # small: upscaled, not sliced
    ],
)
def test_slicing_gives_the_published_grids_and_token_counts(tiny, size, grid, queries, overview, cell):
    _, small = tiny
    processor = make_minicpmv_processor(small.tokenizer, image_size=448, max_slice_nums=9, query_num=64)
    assert processor.grid_of(size) == grid
    assert slice_sizes(size, max_slice_nums=9, scale_resolution=448, patch_size=14) == (grid, overview, cell)
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    out = processor(images=[image], text=["<image>\nQ"], return_tensors="pt")
    n_slices = 1 + (grid[0] * grid[1] if grid else 0)
    assert out["pixel_values"].shape[0] == n_slices == len(out["tgt_sizes"])
    assert int((out["input_ids"] == processor.feature_token_id).sum()) == queries
    assert out["tgt_sizes"][0].tolist() == [overview[1] // 14, overview[0] // 14]
    text = processor.tokenizer.decode(out["input_ids"][0])
    assert text.startswith("<image_id>0</image_id><image>") and text.count("<slice>") == n_slices - 1
    assert text.count("\n") == (grid[1] - 1 if grid else 0) + 1  # rows joined by newlines, then the question's
    assert len(out["input_ids"][0]) - len("\nQ") + 1 == processor.image_token_count(size) + 1


def test_pixels_are_normalised_with_half_mean_and_std_and_patchify_like_the_published_model():
    processor = MiniCPMVImageProcessor(scale_resolution=28, max_slice_nums=1)
    white = Image.new("RGB", (28, 28), (255, 255, 255))
    out = processor([white], return_tensors="pt")
    assert torch.allclose(out["pixel_values"], torch.ones(1, 3, 28, 28))
    ramp = torch.arange(3 * 28 * 42, dtype=torch.float32).reshape(3, 28, 42)
    flat = patchify(ramp)
    assert flat.shape == (3, 14, 6 * 14)
    torch.testing.assert_close(flat[:, :, 14:28], ramp[:, :14, 14:28])  # patch (0, 1) is the second one
    torch.testing.assert_close(flat[:, :, 3 * 14 : 4 * 14], ramp[:, 14:, :14])  # then the second row starts


def test_vision_positions_follow_the_published_buckets():
    from transformers.models.idefics2.configuration_idefics2 import Idefics2VisionConfig

    from addressvlm.models.minicpmv.modeling_minicpmv import MiniCPMVVisionEmbeddings

    embeddings = MiniCPMVVisionEmbeddings(Idefics2VisionConfig(hidden_size=8, image_size=980, patch_size=14))
    boundaries = torch.arange(1 / 70, 1.0, 1 / 70)
    captured = {}
    embeddings.position_embedding.register_forward_hook(lambda m, i, o: captured.update(ids=i[0]))
    for height, width in [(1, 25), (32, 32), (34, 49), (70, 70)]:  # (1, 25) and (34, 49) round differently
        mask = torch.zeros(1, 70, 70, dtype=torch.bool)
        mask[0, :height, :width] = True
        embeddings(torch.zeros(1, 3, 980, 980), mask)
        # the published SiglipVisionEmbeddings with tgt_sizes (int32 tensors): 1 / h is a float32 tensor
        h, w = torch.tensor([height, width], dtype=torch.int32)
        rows = torch.bucketize(torch.arange(0, 1 - 1e-6, 1 / h), boundaries, right=True)
        cols = torch.bucketize(torch.arange(0, 1 - 1e-6, 1 / w), boundaries, right=True)
        assert torch.equal(captured["ids"][0][mask[0].reshape(-1)], (rows[:, None] * 70 + cols).flatten())


def test_sincos_table_puts_columns_first():
    table = sincos_2d(8, 3, 5)
    assert table.shape == (3, 5, 8)
    assert torch.equal(table[0, :, :4], table[2, :, :4])  # the first half depends on the column only
    assert torch.equal(table[:, 0, 4:], table[:, 3, 4:])  # the second on the row only
    assert table[0, 0, :2].tolist() == [0.0, 0.0] and table[0, 0, 2:4].tolist() == [1.0, 1.0]


def test_published_layout_loads_with_no_missing_keys_and_exports_back(tiny, tmp_path):
    model, processor = tiny
    export_minicpmv_hf(model, processor, tmp_path / "published")
    config = json.loads((tmp_path / "published" / "config.json").read_text())
    assert config["model_type"] == "minicpmv" and "text_config" not in config
    preprocessor = json.loads((tmp_path / "published" / "preprocessor_config.json").read_text())
    assert preprocessor["image_processor_type"] == "MiniCPMVImageProcessor" and preprocessor["version"] == 2.6
    from safetensors import safe_open

    with safe_open(str(tmp_path / "published" / "model.safetensors"), "pt") as handle:
        assert set(handle.keys()) == set(model.state_dict())
    loaded, loaded_processor = load_pretrained(tmp_path / "published")  # raises on missing / unexpected keys
    image = Image.fromarray(np.random.RandomState(1).randint(0, 255, (50, 120, 3), dtype=np.uint8))
    inputs = loaded_processor(images=[image], text=[loaded_processor.build_prompt("Q?")], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)


def test_image_token_mismatch_is_named(tiny, make_image):
    model, processor = tiny
    inputs = processor(images=[make_image(0)], text=["<image>\nQ"], return_tensors="pt")
    with pytest.raises(ValueError, match="Image features and image tokens do not match"):
        model(input_ids=inputs["input_ids"][:, :-20], pixel_values=inputs["pixel_values"],
              pixel_attention_mask=inputs["pixel_attention_mask"])  # fmt: skip
    with pytest.raises(ValueError, match="no pixel_values"):
        model(input_ids=inputs["input_ids"])
