"""TorchExactIndex: exact inner-product top-k on a torch device, for GPUs without faiss-gpu.

faiss-gpu wheels are hundreds of MB and tied to one CUDA version; many GPU machines have
only faiss-cpu, whose search then runs on the host while the models run on the GPU. An
exact search over a catalog that fits in GPU memory is one matrix product and one
``topk``: for the unit-norm vectors r4t uses, the same ranking as faiss's ``Flat`` / ``ip``
index up to float32 rounding. It has ``CatalogIndex``'s search interface (``search``,
``search_distinct``, ``ntotal``, ``dim``), so retrievers use it unchanged; grounding to
distinct items is the same function for both (``r4t.catalog.grounding``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from r4t.catalog.embedders import check_embeddings
from r4t.catalog.grounding import DistinctIds, search_distinct_with
from r4t.errors import ConfigError, DataError


class TorchExactIndex:
    """Exact inner-product search over ``vectors`` [N, d] held on ``device`` (row i = item i).

    ``chunk`` bounds the score matrix of one product (queries x catalog) so a batch of 1024
    fan-outs x 10 rows over a million items does not allocate 40 GB at once.
    """

    factory = "torch exact inner product"
    metric = "ip"

    def __init__(self, vectors: np.ndarray, device: str = "cpu", dtype: str = "float32", chunk: int = 4096) -> None:
        vectors = check_embeddings(vectors, "index vectors")
        if len(vectors) == 0:
            raise DataError("cannot build an index over an empty catalog")
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"TorchExactIndex dtype must be float32, bfloat16 or float16, got {dtype!r}")
        if chunk < 1:
            raise ConfigError(f"TorchExactIndex chunk must be >= 1, got {chunk}")
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.dim = int(vectors.shape[1])
        self.chunk = chunk
        self.vectors = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(self.device, self.dtype)

    @property
    def ntotal(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    def describe(self) -> dict[str, Any]:
        return {"search": f"{self.factory} (torch matmul + topk, {str(self.dtype).removeprefix('torch.')}, {self.device.type})",
                "items": self.ntotal, "dim": self.dim}

    def search_tensor(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k on the device: (scores [m, k] float32, ids [m, k] int64), best first."""
        if not 1 <= k <= self.ntotal:
            raise ConfigError(f"k={k} must be between 1 and the catalog size {self.ntotal}")
        q = queries.to(self.device, self.dtype)
        scores, ids = [], []
        for start in range(0, len(q), self.chunk):
            s, i = torch.topk(q[start:start + self.chunk] @ self.vectors.T, k, dim=1)
            scores.append(s.float())
            ids.append(i)
        return torch.cat(scores), torch.cat(ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for each query row: (scores [m, k], ids [m, k]) as numpy, like ``CatalogIndex.search``."""
        queries = check_embeddings(np.atleast_2d(queries), "search queries", dim=self.dim)
        with torch.inference_mode():
            scores, ids = self.search_tensor(torch.from_numpy(np.ascontiguousarray(queries)), k)
        return scores.cpu().numpy(), ids.cpu().numpy()

    def search_distinct(self, rows: np.ndarray, k: int, depth: int | None = None) -> DistinctIds:
        """k distinct items per set of rows (``[L, d]`` or ``[B, L, d]``), as ``CatalogIndex.search_distinct``."""
        return search_distinct_with(self.search, rows, k, self.ntotal, self.dim, depth)
