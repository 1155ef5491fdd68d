"""The retriever contract: queries in, k distinct real catalog items per query out.

Every retriever is built with the prepared data (catalog, item embeddings, index,
embedder) as a runtime argument: ``retrievers.build(spec, data=prepared)``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from r4t.catalog.embedders import check_embeddings
from r4t.catalog.grounding import distinct_within_pool
from r4t.data.prepare import PreparedData
from r4t.errors import ConfigError, DataError
from r4t.registry import Registry

retrievers: Registry = Registry("retrievers", entry_point_group="r4t.retrievers")


class StageTimer:
    """Accumulates wall time per named stage (encode / generate / search / rerank).

    Retrievers wrap their stages in ``with self.stage("generate"):``; the latency
    benchmark reads the totals. ``sync`` (e.g. ``torch.cuda.synchronize``) runs at each
    stage boundary so asynchronous GPU work is charged to the stage that queued it.
    """

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.sync = sync
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.sync:
            self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.sync:
                self.sync()
            self.totals[name] += time.perf_counter() - start

    def reset(self) -> None:
        self.totals.clear()


GROUNDINGS = ("nearest", "rows_dpp")
DPP_POOL = 100  # the dpp retriever's default candidate pool


def check_grounding(grounding: str, alpha: float, who: str) -> tuple[str, float]:
    """How generated rows become items (``Retriever.ground_rows``) and rows_dpp's quality exponent."""
    if grounding not in GROUNDINGS:
        raise ConfigError(f"{who} grounding must be one of {', '.join(GROUNDINGS)}; got {grounding!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not np.isfinite(alpha) or alpha < 0:
        raise ConfigError(f"{who} alpha must be a finite number >= 0, got {alpha!r}")
    return grounding, float(alpha)


def check_pool(pool: int | None, who: str) -> int | None:
    """A candidate-pool size: None (the whole catalog) or a whole number >= 1."""
    if pool is not None and (isinstance(pool, bool) or not isinstance(pool, int) or pool < 1):
        raise ConfigError(f"{who} pool must be a whole number >= 1 (or null), got {pool!r}")
    return pool


class Retriever(ABC):
    """Returns sets of k distinct catalog items, batched over queries."""

    # False for retrievers that work from the query texts alone (fan-out LMs): ``retrieve``
    # then skips the query encoder, so neither their sets nor their latency pay for it.
    uses_query_embedding: bool = True

    def __init__(self, data: PreparedData) -> None:
        self.data = data
        self.stage = StageTimer()

    def export_files(self, folder: Path) -> dict[str, str]:
        """Write what this retriever loads from disk into ``folder`` (an artifact being exported)
        and return ``{argument: path relative to folder}``; ``r4t.load_retriever`` passes those
        paths back. Retrievers built from the prepared data and plain settings need nothing,
        which is the default; a plugin that reads a file overrides this (``r4t export`` refuses
        a spec whose argument names a file that no override copied)."""
        return {}

    def clear_caches(self) -> None:  # noqa: B027 (an optional hook: most retrievers memoise nothing)
        """Drop memoised work (e.g. sub-query embeddings) so a timed call pays full price."""

    def retrieve(self, queries: Sequence[str], k: int) -> list[list[str]]:
        """Item ids (catalog ``item_ids``) for each query text."""
        if isinstance(queries, str):
            raise DataError("retrieve() takes a list of query texts, not a single string")
        emb = None
        if self.uses_query_embedding:
            with self.stage("encode"):
                emb = self.data.embedder.encode(list(queries))
        ids = self.data.catalog.item_ids
        rows = self.retrieve_indices_for(list(queries), emb, k)
        self.check_contract(rows, k, len(queries))
        return [[ids[i] for i in row] for row in rows]

    def check_contract(self, rows: Sequence[Sequence[int]], k: int, n: int) -> None:
        """Every retriever (built-in or plugin) returns, per query, k distinct catalog indices;
        a broken one fails in one line naming it instead of corrupting a benchmark."""
        size = len(self.data.catalog)
        if len(rows) != n:
            raise DataError(f"retriever {type(self).__name__} broke the contract: {len(rows)} sets for {n} queries")
        for row in rows:
            if len(row) != k or len(set(row)) != k or any(not 0 <= int(i) < size for i in row):
                raise DataError(f"retriever {type(self).__name__} broke the contract: returned {len(set(row))} distinct of "
                                f"{len(row)} items for k={k} (every retriever returns k distinct catalog items)")

    def retrieve_indices_for(self, texts: Sequence[str], query_emb: np.ndarray | None, k: int) -> list[list[int]]:
        """Catalog indices given both the query texts and their embeddings (callers that
        have cached embeddings pass them; ``None`` only where ``uses_query_embedding`` is
        False); embedding-only retrievers ignore the texts."""
        if query_emb is None:
            raise ConfigError(f"{type(self).__name__} searches from the query embeddings; it was called without them")
        return self.retrieve_indices(query_emb, k)

    def retrieve_indices(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        """Catalog indices for each query embedding row [B, d]."""
        self.check_k(k)
        query_emb = check_embeddings(np.atleast_2d(query_emb), "query embeddings", dim=self.data.item_emb.shape[1])
        out = self._retrieve(query_emb, k)
        self.check_contract(out, k, len(query_emb))
        return out

    def directions(self, texts: Sequence[str], query_emb: np.ndarray) -> list[np.ndarray]:
        """The search directions behind each set ([n_i, d] per query), for the paper's WSCR
        protocol (depth-n candidates per direction). Without a fan-out it is the query itself."""
        return [row[None] for row in np.atleast_2d(query_emb)]

    def check_k(self, k: int) -> None:
        if not 1 <= k <= len(self.data.catalog):
            raise ConfigError(f"k={k} must be between 1 and the catalog size {len(self.data.catalog)}")

    @abstractmethod
    def _retrieve(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        """[B, d] unit-norm float32 -> B lists of k distinct indices."""

    def ground_rows(self, rows: np.ndarray, query_emb: np.ndarray, k: int, pool: int | None = None,
                    grounding: str = "nearest", alpha: float = 5.0) -> list[list[int]]:
        """Generated rows [B, L, d] -> k distinct items per set. ``nearest``: the rows' nearest
        distinct items in the whole catalog, or, with ``pool`` M, among each query's dense top-M.
        ``rows_dpp``: DPP (quality exponent ``alpha``) over the query's dense top-M (M = pool,
        100 by default, as the ``dpp`` retriever), its quality read from the rows (``rows_dpp``)."""
        if grounding == "rows_dpp":
            from r4t.retrievers.dpp import rows_dpp  # dpp imports this module

            _, pool_ids = self.candidates(np.atleast_2d(query_emb), max(pool or DPP_POOL, k))
            with self.stage("rerank"):
                return rows_dpp(rows, pool_ids, self.data.item_emb, alpha, k)
        if pool is None:
            with self.stage("search"):
                return self.data.item_index.search_distinct(rows, k)
        _, pool_ids = self.candidates(np.atleast_2d(query_emb), max(pool, k))
        with self.stage("search"):
            return distinct_within_pool(rows, pool_ids, self.data.item_emb, k)

    def candidates(self, query_emb: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``pool`` (scores, indices) per query from the index (pool clipped to the catalog)."""
        with self.stage("search"):
            return self.data.item_index.search(query_emb, min(pool, len(self.data.catalog)))
