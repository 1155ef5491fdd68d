"""Known answers for the paper's set properties, one comment per case."""

import math

import pytest
import torch

from r4t.errors import DataError
from r4t.rewards import SetBatch, rewards
from r4t.rewards import functional as F


def test_vendi_identity_kernel_gives_n_and_copies_give_one():
    assert F.vendi_score(torch.eye(5)).item() == pytest.approx(5.0)  # orthogonal items: n effective items
    assert F.vendi_score(torch.ones(4, 3)).item() == pytest.approx(1.0)  # four copies of one item
    assert F.vendi_score(torch.tensor([[1.0, 0.0]])).item() == pytest.approx(1.0)  # n = 1 is safe


def test_vendi_two_clusters_known_value():
    # two copies each of two orthogonal items: K/n has eigenvalues 1/2, 1/2 -> exp(log 2) = 2
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert F.vendi_score(x).item() == pytest.approx(2.0)
    assert F.normalized_vendi(x).item() == pytest.approx(1.0 / 3.0)  # (2 - 1) / (4 - 1)
    two = torch.eye(2)
    assert F.normalized_vendi(two).item() == pytest.approx(1.0)  # two different items: "fully diverse"
    assert F.normalized_vendi(two, target_size=10).item() == pytest.approx(1.0 / 9.0)  # ...but only 2 of 10 directions


def test_vendi_invariances_and_duplicates():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 8, generator=g)
    perm = x[torch.randperm(6, generator=g)]
    assert F.vendi_score(perm).item() == pytest.approx(F.vendi_score(x).item(), rel=1e-5)  # order-free
    dup = torch.cat([x[:5], x[:1]])
    assert F.vendi_score(dup) < F.vendi_score(x)  # a duplicate never raises diversity
    batch = F.vendi_score(torch.stack([x, dup]))
    assert batch[0].item() == pytest.approx(F.vendi_score(x).item(), rel=1e-6)  # batched = one at a time


def test_alignment_known_values():
    q = torch.tensor([1.0, 0.0])
    subs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert F.alignment(subs, q).item() == pytest.approx(0.5)  # cos 1 and cos 0
    assert F.alignment(torch.tensor([[-2.0, 0.0]]), q).item() == pytest.approx(-1.0)  # scale-free


def test_groundedness_known_values():
    catalog = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    on = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert F.groundedness(on, catalog).item() == pytest.approx(1.0)  # sub-queries sit on items
    off = torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]])  # 45 degrees from both: distance sqrt(2 - sqrt 2)
    assert F.groundedness(off, catalog).item() == pytest.approx(1 - math.sqrt(2 - math.sqrt(2)))
    assert F.groundedness_from_nearest(off, catalog[:1]).item() == pytest.approx(F.groundedness(off, catalog).item())
    with pytest.raises(DataError, match="dim"):
        F.groundedness(torch.ones(1, 3), catalog)


def test_reference_recall_known_values():
    assert F.reference_recall([[1, 2], [2, 3]], [1, 3, 5, 7]) == 0.5  # found 1 and 3 of four
    assert F.reference_recall([[9]], [1]) == 0.0
    with pytest.raises(DataError, match="empty"):
        F.reference_recall([[1]], [])


def test_registered_rewards_return_total_and_terms():
    sub = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    out = rewards.build("alignment")(SetBatch(query_emb=torch.tensor([[1.0, 0.0]]), subquery_emb=sub))
    assert out.total.tolist() == pytest.approx([0.5]) and set(out.terms) == {"alignment"}
    vendi = rewards.build({"name": "vendi_diversity", "normalize": False})(SetBatch(item_emb=sub))
    assert vendi.total.item() == pytest.approx(2.0)
    rr = rewards.build({"name": "reference_recall", "depth": 1})(SetBatch(retrieved_ids=[[[1, 2], [3, 4]]], reference_ids=[[1, 2]]))
    assert rr.total.item() == pytest.approx(0.5)  # depth 1 keeps only 1 and 3
    with pytest.raises(DataError, match=r"needs SetBatch fields \['item_emb'\]"):
        rewards.build("groundedness")(SetBatch(subquery_emb=sub))
