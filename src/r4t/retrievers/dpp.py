"""Determinantal point process re-ranking by fast greedy MAP inference (Chen, Zhang &
Zhou, NeurIPS 2018), with the kernel L = diag(r) S diag(r).

S is the cosine similarity of the candidates (PSD: a Gram matrix of unit vectors) and
r_i = exp(alpha * rel_i) their quality, so alpha trades relevance against diversity.
The greedy step adds argmax_i log det(L_{S+i}); with an incremental Cholesky factor each
step costs O(|S| * M), O(k^2 * M) for the whole set. Greedy stops when the best marginal
gain d_i^2 falls to epsilon (the rest of the candidates are linearly dependent on the
chosen ones); the set is then completed with the most relevant remaining candidates so
every query still gets k distinct items.
"""

from __future__ import annotations

import numpy as np

from r4t.catalog.blas_threads import serial_blas
from r4t.catalog.grounding import checked_rows_and_pool
from r4t.data.prepare import PreparedData
from r4t.errors import ConfigError
from r4t.retrievers.base import DPP_POOL, Retriever, retrievers


def _conditional_state(kernel: np.ndarray, selected: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky rows ``c`` [|S|, M] and gains d^2 [M] of every item given ``selected``."""
    m = kernel.shape[0]
    c = np.zeros((len(selected), m))
    d2 = kernel.diagonal().astype(np.float64).copy()
    for t, j in enumerate(selected):
        e = (kernel[j] - c[:t, j] @ c[:t]) / np.sqrt(max(d2[j], 1e-300))
        c[t] = e
        d2 = d2 - e**2
    return c, d2


def greedy_map(kernel: np.ndarray, k: int, epsilon: float = 1e-10, window: int | None = None) -> list[int]:
    """Greedy MAP of a DPP with PSD ``kernel`` [M, M]; may return fewer than k (see epsilon).

    With ``window`` w, diversity is only enforced within the last w - 1 picks (Chen et
    al.'s sliding window for long lists); the state is rebuilt on the window each step.
    """
    m = kernel.shape[0]
    k = min(k, m)
    kernel = np.asarray(kernel, dtype=np.float64)
    d2 = kernel.diagonal().copy()
    c = np.zeros((k, m))
    selected: list[int] = []
    taken = np.zeros(m, dtype=bool)
    j = int(np.argmax(d2))
    if d2[j] <= epsilon:
        return selected
    selected.append(j)
    taken[j] = True
    while len(selected) < k:
        if window is not None and len(selected) >= window:
            _, d2 = _conditional_state(kernel, selected[-(window - 1):] if window > 1 else [])
        else:
            t = len(selected) - 1
            e = (kernel[j] - c[:t, j] @ c[:t]) / np.sqrt(d2[j])
            c[t] = e
            d2 = d2 - e**2
        gains = np.where(taken, -np.inf, d2)
        j = int(np.argmax(gains))
        if gains[j] <= epsilon:
            break
        selected.append(j)
        taken[j] = True
    return selected


def dpp_select(item_emb: np.ndarray, rel: np.ndarray, alpha: float, k: int, epsilon: float = 1e-10,
               window: int | None = None) -> list[int]:
    """Positions of k candidates: greedy MAP under L = diag(r) S diag(r), r = exp(alpha * rel),
    completed by relevance when the greedy stops early. ``rel`` must be ranked (best first)
    for that completion to take the most relevant rest, as ``dpp``'s candidates are."""
    x = np.asarray(item_emb, dtype=np.float64)
    rel = np.asarray(rel)  # its own dtype: float32 index scores give the records' exact quality values
    quality = np.exp(alpha * (rel - rel.max()))  # shifted: same ratios, no overflow
    features = quality[:, None] * x
    with serial_blas(float(x.shape[0]) ** 2 * x.shape[1]):  # a serving-size kernel: one BLAS thread (r4t.catalog.blas_threads)
        picks = greedy_map(features @ features.T, k, epsilon, window)
    chosen = set(picks)
    rest = [p for p in range(len(rel)) if p not in chosen]  # ranked by relevance
    return picks + rest[: k - len(picks)]


def rows_dpp(rows: np.ndarray, pool_ids: np.ndarray, item_emb: np.ndarray, alpha: float, k: int) -> list[list[int]]:
    """k distinct items per set: DPP greedy MAP over each query's candidates ``pool_ids`` [B, M],
    with quality from the generated rows [B, L, d] instead of the query,
    r_i = exp(alpha * max_l cos(item_i, row_l)).

    The split of work measured on val (benchmarks/results/rows_dpp.md): a set diffusion model
    learns where an intent's items are (its sets align better than dense top-k's) but not how
    to spread over an unseen intent's interpretations; DPP spreads but ranks by the query alone.
    """
    rows = checked_rows_and_pool(rows, pool_ids, k, "rows_dpp")
    unit = rows / np.linalg.norm(rows, axis=-1, keepdims=True).clip(1e-12)
    out = []
    for set_rows, ids in zip(unit, pool_ids):
        candidates = item_emb[ids]
        with serial_blas(float(len(ids)) * set_rows.size):
            learned = (candidates @ set_rows.T).max(axis=1)  # each candidate's best match among the rows
        order = np.argsort(-learned, kind="stable")  # dpp_select completes an early stop by this ranking
        out.append([int(ids[order[p]]) for p in dpp_select(candidates[order], learned[order], alpha, k)])
    return out


def rows_dpp_per_query(data: PreparedData, query_emb: np.ndarray, rows: list[np.ndarray], alpha: float, k: int) -> list[list[int]]:
    """``rows_dpp`` for sets whose row counts differ (fan-outs write 1..L sub-queries): each query's
    pool is its dense top-``DPP_POOL`` (one batched search), each set's quality its own rows [L_b, d]."""
    _, pools = data.item_index.search(np.atleast_2d(query_emb).astype(np.float32), min(max(DPP_POOL, k), len(data.catalog)))
    return [rows_dpp(np.atleast_2d(r)[None], pools[n : n + 1], data.item_emb, alpha, k)[0] for n, r in enumerate(rows)]


@retrievers.register("dpp")
class DPP(Retriever):
    """DPP greedy MAP re-ranking of the top-``pool_size`` dense candidates."""

    def __init__(
        self, data: PreparedData, alpha: float = 5.0, pool_size: int = DPP_POOL, epsilon: float = 1e-10, window: int | None = None
    ) -> None:
        super().__init__(data)
        if pool_size < 1 or epsilon < 0 or (window is not None and window < 1):
            raise ConfigError(f"dpp needs pool_size >= 1, epsilon >= 0, window >= 1; got {pool_size}, {epsilon}, {window}")
        self.alpha, self.pool_size, self.epsilon, self.window = alpha, pool_size, epsilon, window

    def _retrieve(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        scores, ids = self.candidates(query_emb, max(self.pool_size, k))
        out = []
        with self.stage("rerank"):
            for rel, cand in zip(scores, ids):
                picks = dpp_select(self.data.item_emb[cand], rel, self.alpha, k, self.epsilon, self.window)
                out.append([int(cand[p]) for p in picks])
        return out
