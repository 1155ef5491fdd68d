"""The single definition of every set property, as plain torch functions.

Rewards (training), filters (synthesis) and metrics (benchmark) all call these, so a
number means the same thing everywhere. Inputs are unit-norm embeddings unless noted.
"""

from __future__ import annotations

from typing import Sequence

import torch

from r4t.errors import DataError


def _unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)


def vendi_score(emb: torch.Tensor) -> torch.Tensor:
    """Vendi score of a set [n, d] (or a batch [B, n, d]) under the cosine kernel.

    VS = exp(-sum_i l_i log l_i) with l_i the eigenvalues of K/n; 0 log 0 = 0. Negative
    eigenvalues from round-off are clipped to 0. Range [1, n]: n orthogonal items give n,
    n copies of one item give 1.
    """
    if emb.ndim not in (2, 3) or emb.shape[-2] == 0:
        raise DataError(f"vendi_score expects [n, d] or [B, n, d] with n >= 1, got {tuple(emb.shape)}")
    x = _unit(emb).double()
    n = x.shape[-2]
    k = x @ x.transpose(-1, -2) / n
    lam = torch.linalg.eigvalsh(k).clamp_min(0.0)
    lam = lam / lam.sum(-1, keepdim=True).clamp_min(1e-12)
    ent = -(torch.where(lam > 0, lam * lam.clamp_min(1e-300).log(), torch.zeros_like(lam))).sum(-1)
    return ent.exp().to(emb.dtype if emb.is_floating_point() else torch.float32)


def normalized_vendi(emb: torch.Tensor) -> torch.Tensor:
    """(VS - 1) / (n - 1) in [0, 1]; 0 for a single item (no diversity to speak of)."""
    n = emb.shape[-2]
    vs = vendi_score(emb)
    return torch.zeros_like(vs) if n == 1 else ((vs - 1.0) / (n - 1)).clamp(0.0, 1.0)


def groundedness(subquery_emb: torch.Tensor, catalog_emb: torch.Tensor) -> torch.Tensor:
    """1 - mean_i min_c ||q_i - c||_2: sub-queries that land on real catalog items score ~1."""
    if subquery_emb.shape[-1] != catalog_emb.shape[-1]:
        raise DataError(f"groundedness: sub-query dim {subquery_emb.shape[-1]} != catalog dim {catalog_emb.shape[-1]}")
    dist = torch.cdist(subquery_emb.float(), catalog_emb.float())
    return 1.0 - dist.min(dim=-1).values.mean(dim=-1)


def groundedness_from_nearest(subquery_emb: torch.Tensor, nearest_emb: torch.Tensor) -> torch.Tensor:
    """Same as ``groundedness`` when row i of ``nearest_emb`` is q_i's nearest item (from the index)."""
    return 1.0 - (subquery_emb.float() - nearest_emb.float()).norm(dim=-1).mean(dim=-1)


def alignment(subquery_emb: torch.Tensor, query_emb: torch.Tensor) -> torch.Tensor:
    """mean_i cos(q_i, q): sub-queries that stay on the query's topic."""
    return (_unit(subquery_emb) * _unit(query_emb).unsqueeze(-2)).sum(-1).mean(-1)


def reference_recall(retrieved_ids: Sequence[Sequence[int]], reference_ids: Sequence[int]) -> float:
    """|Y ∩ ∪_i R(q_i)| / |Y| for one query: R(q_i) are the ids retrieved for sub-query i."""
    reference = set(int(i) for i in reference_ids)
    if not reference:
        raise DataError("reference_recall: the reference set is empty")
    hit = set()
    for ids in retrieved_ids:
        hit.update(int(i) for i in ids)
    return len(reference & hit) / len(reference)
