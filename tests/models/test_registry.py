"""The backbone registry: longest-prefix groups, claims on model types, layouts named in errors."""

import pytest

from addressvlm.models import get_backbone, list_backbones
from addressvlm.models.registry import BackboneSpec, register_backbone


def _spec(**changes):
    fields = dict(
        name="toy",
        display_name="Toy",
        model_types=("toy",),
        module_groups={"vision": "vis", "projector": "proj", "llm": "llm", "lm_head": "llm.lm_head"},
        lora_target_modules="x",
        vision_lora_target_modules="y",
        loader=None,
        processor_class=object,
        build_tiny=None,
        save_tiny=None,
    )
    fields.update(changes)
    return BackboneSpec(**fields)


def test_nested_prefixes_take_the_longest_match():
    spec = _spec()
    assert spec.group_of("llm.lm_head.weight") == "lm_head"
    assert spec.group_of("base_model.model.llm.layers.0.q.lora_A.default.weight") == "llm"
    assert spec.group_of("llmx.weight") == "other" and spec.group_of("proj.modules_to_save.default.w") == "projector"


def test_specs_are_checked_and_claims_are_exclusive():
    with pytest.raises(ValueError, match="lacks the 'projector' group"):
        _spec(module_groups={"vision": "v", "llm": "l"})
    with pytest.raises(ValueError, match="names no group"):
        _spec(group_follows={"lm_head": "decoder"})
    with pytest.raises(ValueError, match="both claim model_type"):
        register_backbone(_spec(name="toy2", model_types=("llava",)))


def test_both_backbones_are_found_by_name_and_model_type():
    assert {"llava_phi3", "minicpmv"} <= set(list_backbones())
    assert get_backbone("llava").name == "llava_phi3" and get_backbone("minicpmv").name == "minicpmv"
    assert get_backbone("minicpmv_native").exporter("minicpmv-hf").name == "minicpmv-hf"
    with pytest.raises(ValueError, match=r"\['addressvlm', 'llava-hf', 'llava-hf-legacy'\]"):
        get_backbone("llava_phi3").exporter("minicpmv-hf")
    with pytest.raises(KeyError, match="Unknown backbone"):
        get_backbone("nope")
