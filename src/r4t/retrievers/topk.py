"""Dense top-k: the paper's "No fan-out" baseline."""

from __future__ import annotations

import numpy as np

from r4t.retrievers.base import Retriever, retrievers


@retrievers.register("dense_topk")
class DenseTopK(Retriever):
    """The k nearest items to the query embedding (no fan-out, no diversification)."""

    def _retrieve(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        return [row.tolist() for row in self.candidates(query_emb, k)[1]]
