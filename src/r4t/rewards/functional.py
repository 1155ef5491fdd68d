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


def normalized_vendi(emb: torch.Tensor, target_size: int | None = None) -> torch.Tensor:
    """(VS - 1) / (m - 1) in [0, 1] with m = n, or m = max(n, target_size) when given.

    With m = n a set of two different items already scores 1.0, which lets an RL policy
    raise "diversity" by writing fewer sub-queries; ``target_size`` (the set size k) makes
    fewer directions score less. 0 when m = 1.
    """
    n = emb.shape[-2]
    m = max(n, target_size or 0)
    vs = vendi_score(emb)
    return torch.zeros_like(vs) if m == 1 else ((vs - 1.0) / (m - 1)).clamp(0.0, 1.0)


def log_det_diversity(emb: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """log det(S + eps I) / n for the cosine Gram S of a set [n, d] (or [B, n, d]).

    The diversity half of a DPP's MAP objective: with quality r_i = exp(alpha cos(x_i, q)),
    log det(diag(r) S diag(r)) / (2 alpha n) = mean_i cos(x_i, q) + log det(S) / (2 alpha n),
    so ``alignment + log_det_diversity / (2 alpha)`` ranks sets exactly as the ``dpp``
    retriever's objective does. Range [log eps, log(1 + eps)]: orthogonal items give ~0,
    a repeated item drives it towards log eps (every eigenvalue of S + eps I is >= eps).
    """
    if emb.ndim not in (2, 3) or emb.shape[-2] == 0:
        raise DataError(f"log_det_diversity expects [n, d] or [B, n, d] with n >= 1, got {tuple(emb.shape)}")
    if eps <= 0:
        raise DataError(f"log_det_diversity needs eps > 0, got {eps}")
    x = _unit(emb).double()
    n = x.shape[-2]
    gram = x @ x.transpose(-1, -2) + eps * torch.eye(n, dtype=x.dtype, device=x.device)
    lam = torch.linalg.eigvalsh(gram).clamp_min(eps)  # round-off can dip below eps
    return (lam.log().sum(-1) / n).to(torch.float32)


def groundedness(subquery_emb: torch.Tensor, catalog_emb: torch.Tensor) -> torch.Tensor:
    """1 - mean_i min_c ||q_i - c||_2: sub-queries that land on real catalog items score ~1."""
    if subquery_emb.shape[-1] != catalog_emb.shape[-1]:
        raise DataError(f"groundedness: sub-query dim {subquery_emb.shape[-1]} != catalog dim {catalog_emb.shape[-1]}")
    dist = torch.cdist(_unit(subquery_emb), _unit(catalog_emb))
    return 1.0 - dist.min(dim=-1).values.mean(dim=-1)


def groundedness_from_nearest(subquery_emb: torch.Tensor, nearest_emb: torch.Tensor) -> torch.Tensor:
    """Same as ``groundedness`` when row i of ``nearest_emb`` is q_i's nearest item (from the index)."""
    return 1.0 - (_unit(subquery_emb) - _unit(nearest_emb)).norm(dim=-1).mean(dim=-1)


def alignment(subquery_emb: torch.Tensor, query_emb: torch.Tensor) -> torch.Tensor:
    """mean_i cos(q_i, q): sub-queries that stay on the query's topic."""
    return (_unit(subquery_emb) * _unit(query_emb).unsqueeze(-2)).sum(-1).mean(-1)


def reference_recall(retrieved_ids: Sequence[Sequence[int]], reference_ids: Sequence[int]) -> float:
    """|Y ∩ ∪_i R(q_i)| / |Y| for one query: R(q_i) are the ids retrieved for sub-query i."""
    union = [int(i) for ids in retrieved_ids for i in ids]
    return recall_and_hit(union, reference_ids)[0]


def coverage(item_emb: torch.Tensor, target_emb: torch.Tensor, target_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Facility-location coverage: mean over targets j of max_i max(0, cos(x_i, t_j)).

    Targets are the query's interpretations (e.g. "rainy-day jazz, 60s" ... "2010s").
    Monotone: adding an item never lowers it; a set that spans every reading scores high.
    item_emb [.., k, d], target_emb [.., m, d], target_mask [.., m] (False = padding).
    """
    sim = (_unit(item_emb) @ _unit(target_emb).transpose(-1, -2)).clamp_min(0.0)  # [.., k, m]
    best = sim.max(dim=-2).values  # [.., m]
    if target_mask is None:
        return best.mean(-1)
    mask = target_mask.to(best.dtype)
    return (best * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)


def curated_match(item_emb: torch.Tensor, curated_emb: torch.Tensor, curated_mask: torch.Tensor | None = None) -> torch.Tensor:
    """How well a set matches the curated collections made for its query: the mean of precision
    (each item's best cosine to a curated item) and coverage (each curated item's best cosine to
    the set, ``coverage``), both clamped at 0. A set of curated items scores 1 on precision; only a
    set spread like the collections scores high on coverage. item_emb [.., k, d], curated_emb [.., c, d]."""
    sim = (_unit(item_emb) @ _unit(curated_emb).transpose(-1, -2)).clamp_min(0.0)  # [.., k, c]
    if curated_mask is not None:
        sim = sim * curated_mask.to(sim.dtype).unsqueeze(-2)  # padding never matches
    precision = sim.max(dim=-1).values.mean(-1)
    return 0.5 * (precision + coverage(item_emb, curated_emb, curated_mask))


def near_duplicate_share(item_emb: torch.Tensor, threshold: float = 0.95) -> torch.Tensor:
    """Share of items that have an earlier item with cosine >= threshold (0 = no near-duplicates)."""
    x = _unit(item_emb)
    sim = x @ x.transpose(-1, -2)
    k = sim.shape[-1]
    earlier = torch.ones(k, k, dtype=torch.bool, device=sim.device).tril(-1)
    return ((sim >= threshold) & earlier).any(-1).float().mean(-1)


def complementarity(
    item_emb: torch.Tensor, roles: torch.Tensor | None = None, dup_threshold: float = 0.95
) -> torch.Tensor:
    """Items fill different roles: (distinct roles / k) * (1 - near-duplicate share).

    ``roles`` [.., k] are integer role codes (outfit slot, playlist facet); without roles
    only the near-duplicate penalty applies. Range [0, 1].
    """
    dup = near_duplicate_share(item_emb, dup_threshold)
    if roles is None:
        return 1.0 - dup
    k = roles.shape[-1]
    sorted_roles = roles.sort(dim=-1).values
    distinct = 1 + (sorted_roles[..., 1:] != sorted_roles[..., :-1]).sum(-1)
    return distinct.float() / k * (1.0 - dup)


def coherence(item_emb: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine similarity over distinct pairs (in [-1, 1]); 1 for k = 1."""
    x = _unit(item_emb)
    k = x.shape[-2]
    if k == 1:
        return torch.ones(x.shape[:-2])
    sim = x @ x.transpose(-1, -2)
    off = sim.sum((-1, -2)) - sim.diagonal(dim1=-2, dim2=-1).sum(-1)
    return off / (k * (k - 1))


def attribute_agreement(values: torch.Tensor) -> torch.Tensor:
    """Share of items carrying the set's most common value of one attribute (codes [.., k])."""
    k = values.shape[-1]
    eq = values.unsqueeze(-1) == values.unsqueeze(-2)  # [.., k, k]
    return eq.sum(-1).max(-1).values.float() / k


def intra_list_diversity(item_emb: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine distance (1 - cos) over distinct pairs; 0 for k = 1."""
    k = item_emb.shape[-2]
    return torch.zeros(item_emb.shape[:-2]) if k == 1 else 1.0 - coherence(item_emb)


def recall_and_hit(retrieved_ids: Sequence[int], reference_ids: Sequence[int]) -> tuple[float, float]:
    """Recall = |Y ∩ R| / |Y| and Hit = 1[Y ∩ R non-empty] for one query (R: all candidates)."""
    reference = set(int(i) for i in reference_ids)
    if not reference:
        raise DataError("recall/hit: the reference set is empty")
    found = len(reference & set(int(i) for i in retrieved_ids))
    return found / len(reference), float(found > 0)
