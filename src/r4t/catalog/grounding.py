"""Generated vectors -> k distinct real catalog items.

Shared by every retriever: a fan-out's sub-queries and a diffusion model's rows are
both "directions" that must become a set of distinct items. Rows take turns by rank
(each row's best unused hit first, more confident rows first within a rank), so every
row is represented before any row gets a second item.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from r4t.errors import ConfigError, DataError


def distinct_from_candidates(ids: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    """Pick k distinct ids from per-row ranked candidates ``ids``/``scores`` [rows, depth].

    Returns fewer than k only when the candidates hold fewer than k distinct ids.
    """
    if ids.shape != scores.shape or ids.ndim != 2:
        raise DataError(f"candidate ids {ids.shape} and scores {scores.shape} must be equal 2-D arrays")
    chosen: list[int] = []
    taken: set[int] = set()
    cursor = np.zeros(ids.shape[0], dtype=np.int64)
    depth = ids.shape[1]
    while len(chosen) < k:
        progressed = False
        # rows whose next candidate scores highest go first within this round
        heads = [(float(scores[r, cursor[r]]), r) for r in range(ids.shape[0]) if cursor[r] < depth]
        for _, r in sorted(heads, key=lambda t: (-t[0], t[1])):
            while cursor[r] < depth:
                item = int(ids[r, cursor[r]])
                cursor[r] += 1
                if item >= 0 and item not in taken:
                    taken.add(item)
                    chosen.append(item)
                    progressed = True
                    break
            if len(chosen) == k:
                break
        if not progressed:
            break
    return chosen


def checked_rows_and_pool(rows: np.ndarray, pool_ids: np.ndarray, k: int, who: str) -> np.ndarray:
    """``rows`` [B, L, d] as float32, once they and ``pool_ids`` [B, M >= k] are known to fit together."""
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 3 or pool_ids.ndim != 2 or len(rows) != len(pool_ids):
        raise DataError(f"{who} expects rows [B, L, d] and pool ids [B, M]; got {rows.shape} and {pool_ids.shape}")
    if pool_ids.shape[1] < k:
        raise ConfigError(f"a candidate pool of {pool_ids.shape[1]} cannot hold {k} distinct items")
    return rows


def distinct_within_pool(rows: np.ndarray, pool_ids: np.ndarray, item_emb: np.ndarray, k: int) -> list[list[int]]:
    """k distinct items per set, each set's rows grounded among its own candidate pool only.

    ``rows`` [B, L, d] (generated directions), ``pool_ids`` [B, M] (e.g. the query's dense
    top-M). Every row ranks all M candidates by inner product and the rows take turns as in
    ``distinct_from_candidates``; the set stays inside the pool, the rows choose where in it.
    """
    rows = checked_rows_and_pool(rows, pool_ids, k, "distinct_within_pool")
    out = []
    for set_rows, ids in zip(rows, pool_ids):
        scores = set_rows @ item_emb[ids].T                                  # [L, M]
        order = np.argsort(-scores, axis=1, kind="stable")
        out.append(distinct_from_candidates(ids[order], np.take_along_axis(scores, order, axis=1), k))
    return out


Search = Callable[[np.ndarray, int], "tuple[np.ndarray, np.ndarray]"]
# What search_distinct returns: list[int] for one set of rows ([L, d]), list[list[int]] for a
# batch ([B, L, d]). The shape decides, which a type checker cannot see, hence Any.
DistinctIds = Any


def search_distinct_with(search: Search, rows: np.ndarray, k: int, ntotal: int, dim: int,
                         depth: int | None = None) -> DistinctIds:
    """k distinct items per set of rows through any top-k ``search(queries, depth)`` -> (scores, ids).

    ``rows``: [L, d] (one set) or [B, L, d] (batch). One batched search for all B*L rows; if
    de-duplication runs short (rows collapsing onto the same items) the depth is doubled and
    only the short sets are searched again. Shared by the faiss index and the torch one, so
    both ground the same rows to the same items.
    """
    rows = np.asarray(rows, dtype=np.float32)
    single = rows.ndim == 2
    batch = rows[None] if single else rows
    if batch.ndim != 3:
        raise DataError(f"search_distinct expects [L, d] or [B, L, d] rows, got shape {rows.shape}")
    if k > ntotal:
        raise ConfigError(f"asked for {k} distinct items but the catalog has only {ntotal}")
    b, n_rows, _ = batch.shape
    depth = min(ntotal, depth or max(k, -(-k // max(n_rows, 1)) + 4))
    results: list[list[int] | None] = [None] * b
    pending = list(range(b))
    while pending:
        flat = batch[pending].reshape(-1, dim)
        scores, ids = search(flat, depth)
        scores = np.asarray(scores).reshape(len(pending), n_rows, depth)
        ids = np.asarray(ids).reshape(len(pending), n_rows, depth)
        still = []
        for j, bi in enumerate(pending):
            picked = distinct_from_candidates(ids[j], scores[j], k)
            if len(picked) == k or depth == ntotal:
                results[bi] = picked
            else:
                still.append(bi)
        pending, depth = still, min(ntotal, depth * 2)
    out = [r for r in results if r is not None]
    if any(len(r) < k for r in out):  # only reachable if the search returned -1 padding everywhere
        raise DataError(f"could not find {k} distinct items; the index returned too few valid hits")
    return out[0] if single else out
