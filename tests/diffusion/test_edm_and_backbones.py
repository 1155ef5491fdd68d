import math

import pytest
import torch

from r4t.diffusion import edm
from r4t.diffusion.backbones import backbones
from r4t.diffusion.denoiser import SetDenoiser
from r4t.inference.coherent_transformer import cached_weights
from r4t.inference.fast_paths import bind_backbone


def test_preconditioning_matches_the_edm_formulas():
    s, sd = torch.tensor([0.5]), 0.088
    assert edm.c_skip(s, sd).item() == pytest.approx(sd**2 / (0.25 + sd**2))
    assert edm.c_out(s, sd).item() == pytest.approx(0.5 * sd / math.sqrt(0.25 + sd**2))
    assert edm.c_in(s, sd).item() == pytest.approx(1 / math.sqrt(0.25 + sd**2))
    assert edm.c_noise(s).item() == pytest.approx(math.log(0.5) / 4)
    assert edm.loss_weight(s, sd).item() == pytest.approx((0.25 + sd**2) / (0.5 * sd) ** 2)
    # at tiny sigma the denoiser passes its input through; at huge sigma it ignores it
    assert edm.c_skip(torch.tensor([1e-4]), sd).item() == pytest.approx(1.0, abs=1e-5)
    assert edm.c_skip(torch.tensor([80.0]), sd).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("kind", ["lognormal", "tangent"])
def test_training_sigma_in_range_and_seeded(kind):
    a = edm.sample_training_sigma(1000, kind, generator=torch.Generator().manual_seed(0))
    b = edm.sample_training_sigma(1000, kind, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.min() >= 1e-4 and a.max() <= 80.0
    with pytest.raises(ValueError, match="unknown training noise"):
        edm.sample_training_sigma(2, "uniform")


def test_coherent_transformer_is_permutation_equivariant():
    torch.manual_seed(0)
    net = backbones.build({"name": "coherent_transformer", "depth": 2, "width": 32, "mlp": 64, "heads": 4, "dropout": 0.0}, dim=8, set_size=5).eval()
    den = SetDenoiser(net, sigma_data=0.3)
    x, cond, sigma = torch.randn(2, 5, 8), torch.randn(2, 8), torch.tensor([0.5, 2.0])
    perm = torch.randperm(5)
    out, out_perm = den(x, sigma, cond), den(x[:, perm], sigma, cond)
    torch.testing.assert_close(out[:, perm], out_perm, atol=1e-5, rtol=1e-5)


def test_mlp_backbone_shapes_and_condition_dropout_changes_output():
    torch.manual_seed(0)
    net = backbones.build({"name": "mlp", "width": 64, "depth": 2, "dropout": 0.0}, dim=8, set_size=5).eval()
    with torch.no_grad():
        net.null_cond.fill_(1.0)
    x, cond = torch.randn(3, 5, 8), torch.randn(3, 8)
    keep = net(x, torch.zeros(3), cond, torch.ones(3, dtype=torch.bool))
    drop = net(x, torch.zeros(3), cond, torch.zeros(3, dtype=torch.bool))
    assert keep.shape == (3, 5, 8) and not torch.allclose(keep, drop)


@pytest.mark.parametrize("name", ["coherent_transformer", "mlp"])
def test_condition_enters_at_the_scale_of_the_set_rows(name):
    # Unit-norm 384-d query embeddings have entries ~0.05; unscaled, their token was ~20x
    # smaller than the rows' and the trained music model ignored the query.
    from r4t.diffusion.backbones.base import scale_condition

    torch.manual_seed(0)
    d = 384
    net = backbones.build({"name": name}, dim=d, set_size=10)
    query = torch.nn.functional.normalize(torch.randn(64, d), dim=-1)
    rows = torch.randn(64, 10 * d if name == "mlp" else d)  # what the network sees: c_in * x has unit variance
    rms = lambda t: t.pow(2).mean().sqrt().item()  # noqa: E731
    ratio = rms(net.cond(scale_condition(query))) / rms(net.inp(rows))
    assert 0.3 < ratio < 3.0
    assert rms(net.cond(query)) / rms(net.inp(rows)) < 0.1  # what it was without the scaling


def test_query_anchor_is_the_plain_denoiser_on_the_shifted_set():
    """D_a(x; q) = a*q + D_0(x - a*q; q): the same EDM process run on the residual Z - a*z_q."""
    import copy

    import torch

    from r4t.diffusion.backbones import backbones
    from r4t.diffusion.denoiser import SetDenoiser

    torch.manual_seed(0)
    net = backbones.build({"name": "coherent_transformer", "depth": 1, "width": 16, "mlp": 16, "heads": 2}, dim=8, set_size=3).eval()
    plain, anchored = SetDenoiser(net, 0.1), SetDenoiser(copy.deepcopy(net), 0.1, query_anchor=0.7)
    x, q, sigma = torch.randn(2, 3, 8), torch.nn.functional.normalize(torch.randn(2, 8), dim=-1), torch.tensor([0.05, 3.0])
    expected = 0.7 * q[:, None] + plain(x - 0.7 * q[:, None], sigma, q)
    torch.testing.assert_close(anchored(x, sigma, q), expected)
    # at very high noise the anchored denoiser's guess is the query itself (plus the network's correction)
    assert torch.allclose(SetDenoiser(net, 0.1, 1.0)(torch.zeros(2, 3, 8), torch.tensor([1e6, 1e6]), q) - q[:, None],
                          plain(torch.zeros(2, 3, 8), torch.tensor([1e6, 1e6]), q), atol=1e-5)


def _randomised(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter random (ada and null_cond start at zero, which would hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return net


@pytest.mark.parametrize("batch", [1, 3, 40])  # 40 x 5 rows puts the big products on the packed kernels
def test_coherent_transformer_fast_path_equals_forward(batch):
    net = _randomised(backbones.build({"name": "coherent_transformer", "depth": 2, "width": 64, "mlp": 128, "heads": 4,
                                        "dropout": 0.1}, dim=48, set_size=5)).eval()
    den = SetDenoiser(net, sigma_data=0.3, query_anchor=1.0)
    g = torch.Generator().manual_seed(1)
    x, cond = torch.randn(batch, 5, 48, generator=g), torch.randn(batch, 48, generator=g)
    sigma = torch.rand(batch, generator=g) * 3 + 0.01
    mask = torch.arange(batch) % 2 == 0  # some rows with the null condition
    with torch.inference_mode():
        expected = den(x, sigma, cond, mask)
        bound = den.bind(cond, mask)
        torch.testing.assert_close(bound(x, sigma), expected, atol=2e-5, rtol=2e-5)
        torch.testing.assert_close(bound(x, sigma * 2), den(x, sigma * 2, cond, mask), atol=2e-5, rtol=2e-5)
        cached_levels = len(cached_weights(net).per_level)
        for level in (0.7, 0.7, 2.5):  # one level for the whole batch, as samplers call it: cached per level
            uniform = torch.full((batch,), level)
            torch.testing.assert_close(bound(x, uniform), den(x, uniform, cond, mask), atol=2e-5, rtol=2e-5)
        assert len(cached_weights(net).per_level) == cached_levels + 2


def test_fast_path_sees_weight_changes_and_training_mode_uses_forward():
    net = _randomised(backbones.build({"name": "coherent_transformer", "depth": 1, "width": 32, "mlp": 64, "heads": 2,
                                        "dropout": 0.0}, dim=16, set_size=3)).eval()
    x, cond, sigma, mask = torch.randn(2, 3, 16), torch.randn(2, 16), torch.tensor([0.3, 1.0]), torch.ones(2, dtype=torch.bool)
    with torch.inference_mode():
        bind_backbone(net, cond, mask)(x, torch.log(sigma) / 4)  # fills the fused-weight cache
    with torch.no_grad():
        net.blocks[0].cross_attn.in_proj_weight.mul_(1.5)
    with torch.inference_mode():
        torch.testing.assert_close(bind_backbone(net, cond, mask)(x, sigma), net(x, sigma, cond, mask), atol=2e-5, rtol=2e-5)
        level = torch.full((2,), 0.4)
        bind_backbone(net, cond, mask)(x, level)  # caches the noise terms of this level ...
    with torch.no_grad():
        net.noise.mlp[0].weight.mul_(0.5)
    with torch.inference_mode():  # ... which a weight change must drop
        torch.testing.assert_close(bind_backbone(net, cond, mask)(x, level), net(x, level, cond, mask), atol=2e-5, rtol=2e-5)
    import copy
    import pickle

    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):  # caches stay behind, results do not
        assert cached_weights(clone) is None
        with torch.inference_mode():
            torch.testing.assert_close(bind_backbone(clone, cond, mask)(x, level), net(x, level, cond, mask), atol=2e-5, rtol=2e-5)
    net.train()
    out = bind_backbone(net, cond, mask)(x, sigma)  # grad enabled, training mode: forward itself, differentiable
    out.sum().backward()
    assert net.blocks[0].ada.weight.grad is not None
    assert not any(k.startswith("_serving") for k in net.__dict__)  # the model class holds no serving state


def test_mlp_backbone_bind_is_its_forward():
    net = _randomised(backbones.build({"name": "mlp", "width": 32, "depth": 2, "dropout": 0.0}, dim=8, set_size=4)).eval()
    x, cond, noise, mask = torch.randn(3, 4, 8), torch.randn(3, 8), torch.zeros(3), torch.tensor([True, False, True])
    with torch.inference_mode():
        assert torch.equal(net.bind(cond, mask)(x, noise), net(x, noise, cond, mask))
