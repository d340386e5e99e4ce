"""Loading the public xtuner/llava-phi-3-mini-hf layout into LlavaPhi3, and exporting back to it."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, LlavaForConditionalGeneration

from addressvlm.models import load_pretrained
from addressvlm.models.llava_phi3 import export_llava_hf
from addressvlm.models.llava_phi3.conversion_llava_phi3 import ours_to_stock_state_dict, stock_to_ours_state_dict
from addressvlm.models.llava_phi3.tiny_llava_phi3 import save_tiny_llava_hf


QUESTION = "Which street is this? Answer the question using a single word or phrase."


@pytest.fixture(scope="module", params=["legacy", "current"])
def stock_checkpoint(request, tmp_path_factory):
    return request.param, save_tiny_llava_hf(tmp_path_factory.mktemp(f"stock-{request.param}"), layout=request.param)


def _inputs(processor, image):
    return processor(
        images=[image], text=[processor.build_prompt(QUESTION)], return_tensors="pt", add_special_tokens=False
    )


def test_stock_checkpoint_has_the_released_key_layout(stock_checkpoint):
    layout, path = stock_checkpoint
    keys = set(load_file(f"{path}/model.safetensors"))
    if layout == "legacy":
        assert "language_model.lm_head.weight" in keys
        assert "language_model.model.layers.0.self_attn.q_proj.weight" in keys
        assert any(k.startswith("vision_tower.vision_model.") for k in keys)
        assert "multi_modal_projector.linear_1.weight" in keys
    else:
        assert "lm_head.weight" in keys
        assert "model.language_model.layers.0.mlp.gate_proj.weight" in keys
        assert any(k.startswith("model.vision_tower.vision_model.") for k in keys)
    config = json.loads(open(f"{path}/config.json").read())
    assert config["model_type"] == "llava" and config["text_config"]["model_type"] == "llama"
    processor_config = json.loads(open(f"{path}/processor_config.json").read())
    assert "patch_size" not in processor_config and "vision_feature_select_strategy" not in processor_config


def test_stock_layout_loads_with_identical_logits(stock_checkpoint, make_image):
    _, path = stock_checkpoint
    stock = LlavaForConditionalGeneration.from_pretrained(path).eval()
    ours, processor = load_pretrained(path)
    assert type(ours).__name__ == "LlavaPhi3ForConditionalGeneration"
    assert type(ours.model.language_model).__name__ == "Phi3Model"
    assert hasattr(ours.model.language_model.layers[0].self_attn, "qkv_proj")
    inputs = _inputs(processor, make_image(1))
    with torch.no_grad():
        diff = (stock(**inputs).logits - ours(**inputs).logits).abs().max().item()
    assert diff <= 1e-5


def test_multi_head_attention_checkpoint_loads_with_identical_logits(tmp_path, make_image):
    # Phi-3-mini itself has as many key/value heads as query heads: the fused qkv splits into equal thirds
    path = save_tiny_llava_hf(tmp_path / "mha", layout="current", text_kv_heads=4)
    assert json.loads(open(f"{path}/config.json").read())["text_config"]["num_key_value_heads"] == 4
    stock = LlavaForConditionalGeneration.from_pretrained(path).eval()
    ours, processor = load_pretrained(path)
    qkv = ours.model.language_model.layers[0].self_attn.qkv_proj.weight
    assert qkv.shape[0] == 3 * ours.config.text_config.hidden_size
    inputs = _inputs(processor, make_image(2))
    with torch.no_grad():
        diff = (stock(**inputs).logits - ours(**inputs).logits).abs().max().item()
    assert diff <= 1e-5


@pytest.mark.parametrize("legacy", [False, True])
def test_export_reloads_in_stock_transformers_with_identical_logits(stock_checkpoint, tmp_path, make_image, legacy):
    _, path = stock_checkpoint
    ours, processor = load_pretrained(path)
    out = export_llava_hf(ours, processor, tmp_path / "export", legacy=legacy)
    stock = LlavaForConditionalGeneration.from_pretrained(out).eval()
    stock_processor = AutoProcessor.from_pretrained(out)
    assert stock_processor.patch_size == 14 and stock_processor.vision_feature_select_strategy == "default"
    inputs = _inputs(processor, make_image(2))
    stock_inputs = stock_processor(
        images=[make_image(2)], text=[processor.build_prompt(QUESTION)], return_tensors="pt", add_special_tokens=False
    )
    assert torch.equal(inputs["input_ids"], stock_inputs["input_ids"])
    with torch.no_grad():
        diff = (stock(**stock_inputs).logits - ours(**inputs).logits).abs().max().item()
    assert diff <= 1e-5


def test_key_map_round_trips_and_splits_grouped_query_attention(tiny_llava):
    model, _ = tiny_llava
    ours = model.state_dict()
    text = model.config.text_config
    assert text.num_key_value_heads < text.num_attention_heads  # q and k/v parts have different sizes
    for legacy in (False, True):
        stock = ours_to_stock_state_dict(ours, text, legacy=legacy)
        head_dim = text.hidden_size // text.num_attention_heads
        prefix = "language_model.model" if legacy else "model.language_model"
        assert stock[f"{prefix}.layers.0.self_attn.k_proj.weight"].shape[0] == text.num_key_value_heads * head_dim
        back = stock_to_ours_state_dict(stock)
        assert back.keys() == ours.keys()
        assert all(torch.equal(back[k], ours[k]) for k in ours)


def test_missing_split_weight_is_named():
    with pytest.raises(KeyError, match="k_proj"):
        stock_to_ours_state_dict(
            {
                "model.language_model.layers.0.self_attn.q_proj.weight": torch.zeros(4, 4),
                "model.language_model.layers.0.self_attn.v_proj.weight": torch.zeros(4, 4),
            }
        )
