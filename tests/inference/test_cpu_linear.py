"""Pre-packed oneDNN linear layers: same numbers as F.linear, and plain F.linear wherever the
packed kernel would change what a call means (gradients, autocast, dtypes, tiny products)."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from r4t.inference import cpu_linear
from r4t.inference.cpu_linear import PrepackedLinear, linear, prepack_available, prepack_linears

needs_onednn = pytest.mark.skipif(not prepack_available(), reason="this torch build has no oneDNN packed linear")


def _big(rows: int = 64, fan_in: int = 128, fan_out: int = 256, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, fan_in, generator=g), torch.randn(fan_out, fan_in, generator=g) / fan_in ** 0.5,
            torch.randn(fan_out, generator=g))


@needs_onednn
@pytest.mark.parametrize("shape", [(64, 128), (4, 16, 128)])
@pytest.mark.parametrize("activation", [None, "gelu"])
def test_packed_product_equals_f_linear(shape, activation):
    x, w, b = _big()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    expected = F.linear(x, w, b)
    expected = F.gelu(expected) if activation else expected
    with torch.inference_mode():
        got = linear(x, w, b, activation=activation)
        no_bias = linear(x, w)
    assert x.numel() * w.shape[0] >= cpu_linear.MIN_WORK  # the packed kernel really ran
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(no_bias, F.linear(x, w), atol=1e-5, rtol=1e-5)


def test_tiny_products_and_other_dtypes_take_f_linear_exactly():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(8, 16, generator=g), torch.randn(16, 16, generator=g), torch.randn(16, generator=g)
    with torch.inference_mode():
        assert torch.equal(linear(x, w, b), F.linear(x, w, b))
        xd, wd, bd = _big()[0].double(), _big()[1].double(), _big()[2].double()
        assert torch.equal(linear(xd, wd, bd), F.linear(xd, wd, bd))
    with pytest.raises(ValueError, match="activation"):
        linear(x, w, b, activation="relu")


def test_gradients_flow_through_the_plain_path():
    x, w, b = _big()
    w.requires_grad_(True)
    linear(x, w, b).sum().backward()
    assert w.grad is not None and torch.allclose(w.grad, x.sum(0).expand_as(w))


@needs_onednn
def test_autocast_keeps_its_meaning():
    x, w, b = _big()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(x, w, b).dtype == torch.bfloat16 == F.linear(x, w, b).dtype


@needs_onednn
def test_in_place_weight_update_is_seen():
    x, w, b = _big()
    with torch.inference_mode():
        linear(x, w, b)
    with torch.no_grad():
        w.mul_(2.0)
    with torch.inference_mode():
        torch.testing.assert_close(linear(x, w, b), F.linear(x, w, b), atol=1e-5, rtol=1e-5)


@needs_onednn
def test_prepack_linears_swaps_plain_layers_and_keeps_state_dict():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(128, 256), nn.GELU(), nn.Linear(256, 128))
    model.attn = nn.MultiheadAttention(128, 4, batch_first=True)  # reads its out_proj weights directly
    keys = list(model.state_dict())
    x = torch.randn(64, 128)
    expected = model[2](model[1](model[0](x)))
    assert prepack_linears(model) == 2
    assert isinstance(model[0], PrepackedLinear) and type(model.attn.out_proj) is not PrepackedLinear
    assert list(model.state_dict()) == keys
    with torch.inference_mode():
        got = model[2](model[1](model[0](x)))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        with torch.inference_mode():
            torch.testing.assert_close(clone[2](clone[1](clone[0](x))), expected, atol=1e-5, rtol=1e-5)
    out = model[0](x)  # training-style call: autograd through the shared parameters
    out.sum().backward()
    assert model[0].weight.grad is not None


def test_env_switch_turns_the_fast_path_off(monkeypatch):
    monkeypatch.setenv(cpu_linear.ENV, "0")
    prepack_available.cache_clear()
    try:
        assert not prepack_available()
        assert prepack_linears(nn.Sequential(nn.Linear(4, 4))) == 0
        assert cpu_linear.describe() == {"cpu_linear": "aten"}
    finally:
        monkeypatch.delenv(cpu_linear.ENV)
        prepack_available.cache_clear()
