"""Known answers and properties of coverage, complementarity, coherence, log-det diversity."""

import math

import pytest
import torch

from r4t.errors import DataError
from r4t.rewards import functional as F

E = torch.eye(4)  # four orthogonal unit vectors


def test_coverage_known_values_and_mask():
    targets = E[:2]
    assert F.coverage(E[:1], targets).item() == pytest.approx(0.5)  # covers one of two readings
    assert F.coverage(E[:2], targets).item() == pytest.approx(1.0)  # covers both
    assert F.coverage(-E[:2], targets).item() == pytest.approx(0.0)  # anti-aligned counts as 0, not negative
    padded = torch.stack([E[0], E[1], torch.zeros(4)])
    mask = torch.tensor([True, True, False])
    assert F.coverage(E[:1], padded, mask).item() == pytest.approx(0.5)  # padding ignored


def test_coverage_is_monotone():
    g = torch.Generator().manual_seed(0)
    items, targets = torch.randn(8, 6, generator=g), torch.randn(5, 6, generator=g)
    values = [F.coverage(items[:n], targets).item() for n in range(1, 9)]
    assert all(b >= a - 1e-7 for a, b in zip(values, values[1:]))  # adding an item never lowers coverage


def test_curated_match_known_values_mask_and_reward():
    from r4t.rewards import build_reward
    from r4t.rewards.base import SetBatch

    curated = E[:2]
    assert F.curated_match(E[:2], curated).item() == pytest.approx(1.0)  # the curated items themselves
    assert F.curated_match(E[:1], curated).item() == pytest.approx(0.75)  # precise (1) but covers one of two (0.5)
    assert F.curated_match(E[2:4], curated).item() == pytest.approx(0.0)  # orthogonal: neither precise nor covering
    assert F.curated_match(torch.stack([E[0], E[2]]), curated).item() == pytest.approx(0.5)  # half precise, half covering
    padded, mask = torch.stack([E[0], E[1], E[2]]), torch.tensor([True, True, False])
    assert F.curated_match(E[2:3], padded, mask).item() == pytest.approx(0.0)  # padding never matches
    reward = build_reward({"components": {"curated_match": 1.0}})
    out = reward(SetBatch(item_emb=E[None, :1], curated_emb=curated[None]))
    assert float(out.total[0]) == pytest.approx(0.75)
    with pytest.raises(Exception, match="curated_emb"):
        reward(SetBatch(item_emb=E[None, :1]))  # a query without curated collections cannot be scored


def test_complementarity_known_values():
    roles = torch.tensor([0, 1, 2, 2])
    assert F.complementarity(E, roles).item() == pytest.approx(0.75)  # 3 distinct slots of 4, no duplicates
    dup = torch.stack([E[0], E[0], E[1], E[2]])
    assert F.complementarity(dup, torch.tensor([0, 1, 2, 3])).item() == pytest.approx(0.75)  # 4 slots, 1 near-duplicate
    assert F.complementarity(E).item() == pytest.approx(1.0)  # no roles: only the duplicate penalty


def test_coherence_and_agreement_known_values():
    assert F.coherence(E).item() == pytest.approx(0.0)  # orthogonal items do not hang together
    assert F.coherence(torch.ones(3, 4)).item() == pytest.approx(1.0)  # identical items do
    assert F.intra_list_diversity(E).item() == pytest.approx(1.0)
    assert F.attribute_agreement(torch.tensor([2, 2, 5, 2])).item() == pytest.approx(0.75)  # 3 of 4 share a style


def test_duplicates_never_raise_diversity_terms():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 8, generator=g)
    dup = torch.cat([x[:5], x[:1]])
    assert F.complementarity(dup) <= F.complementarity(x)
    assert F.normalized_vendi(dup) < F.normalized_vendi(x)


def test_log_det_diversity_known_values():
    assert F.log_det_diversity(E).item() == pytest.approx(0.0, abs=1e-5)  # orthogonal: det(I) = 1
    dup = torch.stack([E[0], E[0], E[1], E[2]])
    # a repeated item: eigenvalues of S + eps I are 2 + eps, eps, 1 + eps, 1 + eps
    assert F.log_det_diversity(dup, eps=1e-6).item() == pytest.approx((math.log(2) + math.log(1e-6)) / 4, rel=1e-4)
    two = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # cos 0.6: det S = 1 - 0.36
    assert F.log_det_diversity(two, eps=1e-9).item() == pytest.approx(math.log(0.64) / 2, rel=1e-5)
    with pytest.raises(DataError):
        F.log_det_diversity(torch.zeros(0, 4))


def test_log_det_diversity_falls_as_items_close_in():
    values = [F.log_det_diversity(torch.tensor([[1.0, 0.0], [c, (1 - c * c) ** 0.5]])).item() for c in (0.0, 0.5, 0.9, 0.99)]
    assert values == sorted(values, reverse=True)


def test_alignment_plus_logdet_ranks_sets_as_the_dpp_objective():
    """alignment + logdet/(2 alpha) is log det(diag(r) S diag(r)) / (2 alpha k): same order over sets."""
    g = torch.Generator().manual_seed(3)
    q = torch.nn.functional.normalize(torch.randn(6, generator=g), dim=0)
    sets = torch.nn.functional.normalize(torch.randn(20, 4, 6, generator=g), dim=-1)
    alpha = 3.0
    ours = F.alignment(sets, q.expand(20, 6)) + F.log_det_diversity(sets, eps=1e-12) / (2 * alpha)
    rel = sets @ q
    kern = torch.diag_embed(torch.exp(alpha * rel)) @ (sets @ sets.transpose(-1, -2)) @ torch.diag_embed(torch.exp(alpha * rel))
    dpp = torch.linalg.slogdet(kern.double()).logabsdet / (2 * alpha * 4)
    torch.testing.assert_close(ours.double(), dpp, atol=1e-4, rtol=1e-4)
