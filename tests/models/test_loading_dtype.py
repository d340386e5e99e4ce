"""Loading in a lower precision casts parameters, never the rotary frequency tables (fidelity review, finding 4)."""

import pytest
import torch

from addressvlm.models import cast_parameters, load_pretrained
from addressvlm.models.llava_phi3.tiny_llava_phi3 import save_tiny_llava_hf


def _rotary_buffers(model):
    return {name: buffer for name, buffer in model.named_buffers() if "inv_freq" in name}


@pytest.mark.parametrize("layout", ["legacy", "current"])
def test_stock_checkpoint_in_bfloat16_keeps_float32_rotary_tables(tmp_path, layout):
    path = save_tiny_llava_hf(tmp_path / layout, layout=layout)
    reference, _ = load_pretrained(path, torch_dtype=torch.float32)
    model, _ = load_pretrained(path, torch_dtype=torch.bfloat16)

    buffers = _rotary_buffers(model)
    assert buffers, "the tiny Phi-3 has rotary inv_freq buffers"
    for name, buffer in buffers.items():
        assert buffer.dtype == torch.float32, name
        torch.testing.assert_close(buffer, _rotary_buffers(reference)[name], rtol=0, atol=0)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config.dtype == torch.bfloat16


def test_cast_parameters_leaves_buffers_and_casts_every_parameter(tiny_llava):
    import copy

    model = copy.deepcopy(tiny_llava[0])
    before = {name: buffer.clone() for name, buffer in model.named_buffers()}
    cast_parameters(model, "float16")
    assert {p.dtype for p in model.parameters()} == {torch.float16}
    for name, buffer in model.named_buffers():
        assert buffer.dtype == before[name].dtype, name
        assert torch.equal(buffer, before[name]), name
