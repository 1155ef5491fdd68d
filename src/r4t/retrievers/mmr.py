"""Maximal Marginal Relevance (Carbonell & Goldstein 1998) over a dense candidate pool.

Greedily adds argmax_i  lambda * rel(i) - (1 - lambda) * max_{j in S} cos(i, j):
lambda = 1 reproduces top-k order, lambda = 0 is pure diversity (after the first item).
"""

from __future__ import annotations

import numpy as np

from r4t.data.prepare import PreparedData
from r4t.errors import ConfigError
from r4t.retrievers.base import Retriever, retrievers


def mmr_select(relevance: np.ndarray, emb: np.ndarray, k: int, lambda_: float) -> list[int]:
    """Positions (into the candidate arrays) of the k MMR picks."""
    chosen: list[int] = []
    max_sim = np.full(len(relevance), -np.inf)
    available = np.ones(len(relevance), dtype=bool)
    for step in range(min(k, len(relevance))):
        penalty = np.zeros_like(relevance) if step == 0 else max_sim
        score = np.where(available, lambda_ * relevance - (1.0 - lambda_) * penalty, -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, emb @ emb[best])
    return chosen


@retrievers.register("mmr")
class MMR(Retriever):
    """Maximal Marginal Relevance re-ranking of the top-``pool_size`` dense candidates."""

    def __init__(self, data: PreparedData, lambda_: float = 0.5, pool_size: int = 100) -> None:
        super().__init__(data)
        if not 0.0 <= lambda_ <= 1.0:
            raise ConfigError(f"mmr lambda_ must be in [0, 1], got {lambda_}")
        if pool_size < 1:
            raise ConfigError(f"mmr pool_size must be >= 1, got {pool_size}")
        self.lambda_, self.pool_size = lambda_, pool_size

    def _retrieve(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        scores, ids = self.candidates(query_emb, max(self.pool_size, k))
        out = []
        with self.stage("rerank"):
            for rel, cand in zip(scores, ids):
                picks = mmr_select(rel, self.data.item_emb[cand], k, self.lambda_)
                out.append([int(cand[p]) for p in picks])
        return out
