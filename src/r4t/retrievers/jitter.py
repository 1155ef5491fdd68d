"""``query_jitter``: the no-learning control for every learned set retriever.

It writes ``copies`` search directions by adding isotropic Gaussian noise to the query
vector, ``z_q + scale * eps / sqrt(d)`` with ``eps ~ N(0, I_d)`` (so ``scale`` is the
noise norm relative to the unit-norm query), and grounds them with the same
``search_distinct`` as the diffusion retrievers. A learned retriever that does not beat
this row has learned nothing the leaderboard can show: it is what "k directions near
the query" buys without any model.

``pool`` grounds the directions among the query's dense top-``pool`` candidates, exactly as
the diffusion retrievers' ``pool`` does: the control for a pooled learned retriever.

``grounding: rows_dpp`` (with ``alpha``) is the control for a diffusion retriever grounded the
same way: DPP over the query's dense top-100 with quality read from the jittered directions.

``repulsion`` g > 0 pushes each set's directions apart once, with the diffusion sampler's
``repel_rows``: the no-learning control for a diffusion retriever sampled with repulsion.

The noise is seeded per query text (not per batch position), so a query gets the same
set whatever batch it is served in; ``seed`` changes every draw (the WSCR protocol's
repeated runs set it).
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from r4t.errors import ConfigError
from r4t.retrievers.base import Retriever, check_grounding, check_pool, retrievers


@retrievers.register("query_jitter")
class QueryJitter(Retriever):
    """``copies`` Gaussian-jittered copies of the query vector, grounded to k distinct items."""

    def __init__(self, data, scale: float = 1.0, copies: int = 10, seed: int = 0, pool: int | None = None,  # noqa: ANN001
                 repulsion: float = 0.0, grounding: str = "nearest", alpha: float = 5.0) -> None:
        super().__init__(data)
        self.pool = check_pool(pool, "query_jitter")
        self.grounding, self.alpha = check_grounding(grounding, alpha, "query_jitter")
        if not np.isfinite(scale) or scale < 0:
            raise ConfigError(f"query_jitter scale must be a finite number >= 0, got {scale}")
        if copies < 1:
            raise ConfigError(f"query_jitter copies must be >= 1, got {copies}")
        if not np.isfinite(repulsion) or repulsion < 0:
            raise ConfigError(f"query_jitter repulsion must be a finite number >= 0, got {repulsion}")
        self.scale, self.copies, self.seed, self.repulsion = float(scale), int(copies), int(seed), float(repulsion)

    def _noise(self, text: str, dim: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(text.encode("utf-8"))])
        return rng.standard_normal((self.copies, dim)).astype(np.float32)

    def directions(self, texts: Sequence[str], query_emb: np.ndarray | None) -> list[np.ndarray]:
        if query_emb is None:
            raise ConfigError("query_jitter perturbs the query embeddings; it was called without them")
        emb = np.atleast_2d(np.asarray(query_emb, dtype=np.float32))
        if len(texts) != len(emb):
            raise ConfigError(f"query_jitter got {len(texts)} texts for {len(emb)} query vectors")
        dim = emb.shape[1]
        with self.stage("generate"):
            rows = [q[None] + (self.scale / np.sqrt(dim)) * self._noise(t, dim) for t, q in zip(texts, emb)]
            if self.repulsion > 0:
                import torch

                from r4t.diffusion.generate import repel_rows

                rows = list(repel_rows(torch.from_numpy(np.stack(rows)), self.repulsion).numpy())  # each set on its own
            return rows

    def retrieve_indices_for(self, texts: Sequence[str], query_emb: np.ndarray | None, k: int) -> list[list[int]]:
        self.check_k(k)
        rows = np.stack(self.directions(texts, query_emb))
        assert query_emb is not None  # directions() refused None
        return self.ground_rows(rows, query_emb, k, self.pool, self.grounding, self.alpha)

    def _retrieve(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        # Embedding-only callers: seed by row position (texts unknown).
        return self.retrieve_indices_for([str(i) for i in range(len(query_emb))], query_emb, k)
