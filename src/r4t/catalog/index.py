"""CatalogIndex: faiss search over one level of a catalog (items or collections).

Exact inner product by default (vectors are unit-norm, so IP = cosine); any faiss
``index_factory`` string from config ("IVF1024,Flat", "HNSW32", "IVF256,PQ16") for large
catalogs; a GPU copy when faiss-gpu and a GPU are present. Saved indexes carry the
fingerprint of the vectors they were built from and refuse to load against others.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from r4t.catalog.embedders import check_embeddings
from r4t.catalog.faiss_threads import threads_for_search, tune_blas_threshold
from r4t.catalog.grounding import DistinctIds, search_distinct_with
from r4t.errors import ConfigError, DataError
from r4t.runs import atomic_dir

_METRICS = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}


def vectors_fingerprint(vectors: np.ndarray) -> str:
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    return hashlib.sha256(str(v.shape).encode() + v.tobytes()).hexdigest()[:16]


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class CatalogIndex:
    """Batched nearest-neighbour search over ``vectors`` [N, d] (row i = catalog index i)."""

    def __init__(
        self,
        vectors: np.ndarray,
        factory: str = "Flat",
        metric: str = "ip",
        nprobe: int | None = None,
        use_gpu: bool | str = "auto",
        train_size: int = 100_000,
        seed: int = 0,
    ) -> None:
        vectors = check_embeddings(vectors, "index vectors")
        if len(vectors) == 0:
            raise DataError("cannot build an index over an empty catalog")
        if metric not in _METRICS:
            raise ConfigError(f"index metric must be one of {sorted(_METRICS)}, got {metric!r}")
        self.dim = vectors.shape[1]
        self.factory, self.metric, self.nprobe = factory, metric, nprobe
        self.fingerprint = vectors_fingerprint(vectors)
        try:
            cpu_index = faiss.index_factory(self.dim, factory, _METRICS[metric])
        except RuntimeError as exc:
            raise ConfigError(f"faiss index_factory rejected {factory!r}: {str(exc).splitlines()[0]}") from None
        if not cpu_index.is_trained:
            rng = np.random.default_rng(seed)
            sample = vectors[rng.permutation(len(vectors))[:train_size]]
            cpu_index.train(sample)
        cpu_index.add(vectors)
        self._set_nprobe(cpu_index)
        self._cpu_index = cpu_index
        self.index = self._maybe_gpu(cpu_index, use_gpu)
        tune_blas_threshold()

    # ------------------------------------------------------------------ properties
    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def on_gpu(self) -> bool:
        return self.index is not self._cpu_index

    def _set_nprobe(self, index: Any) -> None:
        if self.nprobe is None:
            return
        if isinstance(self.nprobe, bool) or not isinstance(self.nprobe, int) or self.nprobe < 1:
            raise ConfigError(f"index.nprobe must be an integer >= 1, got {self.nprobe!r}")
        try:
            faiss.ParameterSpace().set_index_parameter(index, "nprobe", int(self.nprobe))
        except RuntimeError:  # faiss: "could not set parameter nprobe" on indexes without inverted lists
            raise ConfigError(f"index.nprobe applies to IVF indexes only; index.factory {self.factory!r} has none "
                              "(remove nprobe or use e.g. 'IVF256,Flat')") from None

    def _maybe_gpu(self, index: Any, use_gpu: bool | str) -> Any:
        if use_gpu is False or (use_gpu == "auto" and not gpu_available()):
            return index
        if not gpu_available():
            raise ConfigError("index.use_gpu is true but faiss has no GPU support here (install r4t[gpu] on a CUDA machine)")
        self._gpu_resources = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(self._gpu_resources, 0, index)

    # ------------------------------------------------------------------ search
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for each query row: (scores [m, k], ids [m, k]); ids are catalog indices."""
        queries = check_embeddings(np.atleast_2d(queries), "search queries", dim=self.dim)
        if not 1 <= k <= self.ntotal:
            raise ConfigError(f"k={k} must be between 1 and the catalog size {self.ntotal}")
        with nullcontext() if self.on_gpu else threads_for_search(len(queries), self.ntotal, self.dim):
            return self.index.search(queries, k)

    def search_distinct(self, rows: np.ndarray, k: int, depth: int | None = None) -> DistinctIds:
        """k distinct items per set of rows. ``rows``: [L, d] (one set) or [B, L, d] (batch).

        One batched faiss call for all B*L rows; if de-duplication runs short (rows
        collapsing onto the same items) the depth is doubled and searched again.
        """
        return search_distinct_with(self.search, rows, k, self.ntotal, self.dim, depth)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            faiss.write_index(self._cpu_index, str(tmp / "index.faiss"))
            meta = {"dim": self.dim, "factory": self.factory, "metric": self.metric, "nprobe": self.nprobe,
                    "ntotal": self.ntotal, "fingerprint": self.fingerprint, **(extra or {})}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        return directory

    @classmethod
    def load(cls, directory: str | Path, expected_fingerprint: str | None = None, use_gpu: bool | str = "auto") -> "CatalogIndex":
        directory = Path(directory)
        meta_path, index_path = directory / "meta.json", directory / "index.faiss"
        if not (meta_path.exists() and index_path.exists()):
            raise DataError(f"{directory}: not a saved CatalogIndex (index.faiss or meta.json missing)")
        meta = json.loads(meta_path.read_text())
        if expected_fingerprint is not None and meta.get("fingerprint") != expected_fingerprint:
            raise DataError(
                f"{directory}: index was built from other vectors (fingerprint {meta.get('fingerprint')}, "
                f"expected {expected_fingerprint}); rebuild it with `r4t data`"
            )
        self = cls.__new__(cls)
        self.dim, self.factory, self.metric = meta["dim"], meta["factory"], meta["metric"]
        self.nprobe, self.fingerprint = meta.get("nprobe"), meta["fingerprint"]
        self._cpu_index = faiss.read_index(str(index_path))
        self._set_nprobe(self._cpu_index)
        self.index = self._maybe_gpu(self._cpu_index, use_gpu)
        tune_blas_threshold()
        return self
