"""Classifier-free guidance in generate_sets: one batched call, and no second pass at w = 0."""

from __future__ import annotations

import torch

from r4t.diffusion.backbones import backbones
from r4t.diffusion.denoiser import SetDenoiser
from r4t.diffusion.generate import generate_sets
from r4t.diffusion.samplers import samplers


class _CountingDenoiser(torch.nn.Module):
    """D(x | c) = c broadcast over rows, D(x | null) = 0: guidance w scales the output by 1 + w."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def forward(self, x, sigma, cond, cond_mask=None):
        self.calls.append(len(x))
        keep = torch.ones(len(x), dtype=torch.bool) if cond_mask is None else cond_mask
        return torch.where(keep[:, None, None], cond[:, None, :].expand_as(x), torch.zeros_like(x))


def test_guidance_formula_and_batched_calls():
    cond = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    sampler = samplers.build({"name": "euler", "steps": 1})  # one step from sigma_max to 0 returns D(x)
    den = _CountingDenoiser()
    out = generate_sets(den, cond, 4, sampler, guidance=0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, 1.5 * cond[:, None, :].expand(2, 4, 3))
    assert den.calls == [4]  # conditional + unconditional share one call of twice the batch


def test_zero_guidance_is_one_unguided_pass_per_step():
    den = _CountingDenoiser()
    cond = torch.tensor([[1.0, 0.0, 0.0]])
    out = generate_sets(den, cond, 2, samplers.build({"name": "heun", "steps": 3}), guidance=0.0,
                        generator=torch.Generator().manual_seed(0))
    assert den.calls == [1] * 5  # 2 * steps - 1 calls, none doubled
    torch.testing.assert_close(out, cond[:, None, :].expand(1, 2, 3))


def test_zero_guidance_matches_the_conditional_model():
    torch.manual_seed(0)
    backbone = backbones.build({"name": "coherent_transformer", "depth": 1, "width": 16, "mlp": 16, "heads": 2, "dropout": 0.0},
                               dim=8, set_size=3)
    den = SetDenoiser(backbone, sigma_data=0.5).eval()
    cond = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    sampler = samplers.build({"name": "heun", "steps": 4})
    a = generate_sets(den, cond, 3, sampler, guidance=0.0, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        b = sampler.sample(lambda x, s: den(x, s, cond), (2, 3, 8), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
