"""generate_sets: classifier-free guidance (one batched call, no second pass at w = 0) and
row repulsion (known answers, scale-free, off at 0)."""

from __future__ import annotations

import pytest
import torch

from r4t.diffusion.backbones import backbones
from r4t.diffusion.denoiser import SetDenoiser
from r4t.diffusion.generate import generate_sets, repel_rows
from r4t.diffusion.samplers import samplers
from r4t.errors import ConfigError


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


def test_repel_rows_known_answers():
    # Two rows at +-1 on one axis: each one's only set-mate is the other, so the push is
    # g * (x_i - x_j) = g * 2 * x_i.
    rows = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])
    torch.testing.assert_close(repel_rows(rows, 0.25), rows * 1.5)
    torch.testing.assert_close(repel_rows(rows, 0.0), rows)
    # Rows that coincide have no direction to be pushed along; a single row has no set-mate.
    same = torch.ones(1, 3, 4)
    torch.testing.assert_close(repel_rows(same, 1.0), same)
    one = torch.randn(2, 1, 4)
    torch.testing.assert_close(repel_rows(one, 1.0), one)


def test_repulsion_spreads_rows_and_keeps_their_mean_scale_free():
    gen = torch.Generator().manual_seed(0)
    rows = 0.1 * torch.randn(3, 10, 8, generator=gen)
    pushed = repel_rows(rows, 0.5)
    spread = torch.cdist(rows, rows).mean(dim=(1, 2))
    assert torch.all(torch.cdist(pushed, pushed).mean(dim=(1, 2)) > 1.2 * spread)  # every set spreads
    # Scale-free: the same rows 100x larger are pushed by 100x as much; a shift moves nothing relative.
    torch.testing.assert_close(repel_rows(100 * rows, 0.5), 100 * pushed, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(repel_rows(rows + 3.0, 0.5), pushed + 3.0, rtol=1e-4, atol=1e-4)


def test_generate_sets_repulsion_acts_on_every_step_and_off_at_zero():
    den = _CountingDenoiser()  # D(x | c) = c: with no repulsion every row lands on the condition
    cond = torch.tensor([[1.0, 0.0, 0.0]])
    sampler = samplers.build({"name": "dpmpp_2m", "steps": 4})
    plain = generate_sets(den, cond, 5, sampler, guidance=0.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(plain, cond[:, None, :].expand(1, 5, 3))
    # The estimates coincide, so repulsion leaves them alone: it pushes along row differences only.
    again = generate_sets(den, cond, 5, sampler, guidance=0.0, generator=torch.Generator().manual_seed(0), repulsion=1.0)
    torch.testing.assert_close(again, plain)
    with pytest.raises(ConfigError, match="repulsion"):
        generate_sets(den, cond, 5, sampler, guidance=0.0, repulsion=-0.1)


def test_repulsion_raises_the_spread_of_a_trained_models_rows():
    torch.manual_seed(0)
    backbone = backbones.build({"name": "coherent_transformer", "depth": 1, "width": 16, "mlp": 16, "heads": 2, "dropout": 0.0},
                               dim=8, set_size=6)
    den = SetDenoiser(backbone, sigma_data=0.5, query_anchor=1.0).eval()
    cond = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    sampler = samplers.build({"name": "dpmpp_2m", "steps": 4})
    spreads = []
    for g in (0.0, 0.3):
        rows = generate_sets(den, cond, 6, sampler, guidance=0.0, generator=torch.Generator().manual_seed(1), repulsion=g)
        spreads.append(torch.cdist(rows, rows).mean().item())
    assert spreads[1] > spreads[0]
