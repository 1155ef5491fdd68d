"""Every registered reward: shape, finite, range, permutation and batch-size invariance."""

import pytest
import torch

from r4t.errors import ConfigError, DataError, UnknownNameError
from r4t.rewards import SetBatch, build_reward, rewards

B, K, D = 3, 5, 8
ARGS = {"complementarity": {"role_attribute": "slot"}}
RANGES = {"groundedness": (-1, 1), "vendi_diversity": (0, 1), "alignment": (-1, 1), "reference_recall": (0, 1),
          "coverage": (0, 1), "complementarity": (0, 1), "coherence": (-1, 1), "composite": (-1, 1),
          "logdet_diversity": (-13.9, 1e-5), "curated_match": (0, 1)}


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    unit = lambda *s: torch.nn.functional.normalize(torch.randn(*s, generator=g), dim=-1)  # noqa: E731
    return SetBatch(
        query_emb=unit(B, D), subquery_emb=unit(B, K, D), item_emb=unit(B, K, D),
        item_ids=[list(range(K))] * B, retrieved_ids=[[[i, i + 10] for i in range(K)]] * B, reference_ids=[[0, 1, 2, 99]] * B,
        target_emb=unit(B, 4, D), target_mask=torch.ones(B, 4, dtype=torch.bool),
        curated_emb=unit(B, 6, D), curated_mask=torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 5 + [False]]),
        item_attributes={"slot": torch.randint(0, 3, (B, K), generator=g)},
    )


def permute(b, perm):
    return SetBatch(
        query_emb=b.query_emb, subquery_emb=b.subquery_emb[:, perm], item_emb=b.item_emb[:, perm],
        item_ids=[[r[i] for i in perm] for r in b.item_ids], retrieved_ids=[[r[i] for i in perm] for r in b.retrieved_ids],
        reference_ids=b.reference_ids, target_emb=b.target_emb, target_mask=b.target_mask,
        curated_emb=b.curated_emb, curated_mask=b.curated_mask,
        item_attributes={a: v[:, perm] for a, v in b.item_attributes.items()},
    )


def one(b, i):
    return SetBatch(
        query_emb=b.query_emb[i : i + 1], subquery_emb=b.subquery_emb[i : i + 1], item_emb=b.item_emb[i : i + 1],
        item_ids=b.item_ids[i : i + 1], retrieved_ids=b.retrieved_ids[i : i + 1], reference_ids=b.reference_ids[i : i + 1],
        target_emb=b.target_emb[i : i + 1], target_mask=b.target_mask[i : i + 1],
        curated_emb=b.curated_emb[i : i + 1], curated_mask=b.curated_mask[i : i + 1],
        item_attributes={a: v[i : i + 1] for a, v in b.item_attributes.items()},
    )


@pytest.mark.parametrize("name", sorted(RANGES))
def test_reward_contract(name):
    reward = rewards.build({"name": name, **ARGS.get(name, {})})
    b = batch()
    out = reward(b)
    assert out.total.shape == (B,) and torch.isfinite(out.total).all()
    lo, hi = RANGES[name]
    assert (out.total >= lo - 1e-5).all() and (out.total <= hi + 1e-5).all()
    assert reward.min_value <= out.total.min().item() + 1e-5
    assert all(t.shape == (B,) for t in out.terms.values())
    perm = torch.tensor([4, 2, 0, 1, 3])
    torch.testing.assert_close(reward(permute(b, perm)).total, out.total, atol=1e-5, rtol=1e-5)  # sets are order-free
    singles = torch.cat([reward(one(b, i)).total for i in range(B)])
    torch.testing.assert_close(singles, out.total, atol=1e-5, rtol=1e-5)  # batching changes nothing


def test_missing_inputs_fail_clearly():
    with pytest.raises(DataError, match=r"needs SetBatch fields \['target_emb'\]"):
        rewards.build("coverage")(SetBatch(item_emb=torch.ones(1, 2, 3)))
    with pytest.raises(DataError, match="needs item attribute 'slot'"):
        rewards.build({"name": "complementarity", "role_attribute": "slot"})(SetBatch(item_emb=torch.ones(1, 2, 3), item_attributes={}))


def test_composite_weights_terms_and_errors():
    b = batch()
    comp = build_reward({"components": {"alignment": 0.5, "coverage": {"weight": 0.5}}})
    out = comp(b)
    expected = 0.5 * rewards.build("alignment")(b).total + 0.5 * rewards.build("coverage")(b).total
    torch.testing.assert_close(out.total, expected)
    assert set(out.terms) == {"alignment", "coverage"}
    assert build_reward(None).weights == {"groundedness": 0.6, "vendi_diversity": 0.2, "alignment": 0.2}  # paper OAR default
    with pytest.raises(UnknownNameError, match="unknown rewards 'novelty'"):
        build_reward({"components": {"novelty": 1.0}})
    with pytest.raises(ConfigError, match="unknown key"):
        build_reward({"components": {"alignment": 1.0}, "wieghts": {}})
