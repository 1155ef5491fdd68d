"""Sub-queries -> catalog items -> the SetBatch every reward reads.

All sub-queries of a batch of completions are embedded in one call and searched in one
faiss call (top-``depth``), so grounding does not dominate an RL step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from r4t.catalog.catalog import Query
from r4t.data.prepare import PreparedData
from r4t.errors import DataError
from r4t.fanout.parsing import parse_subqueries
from r4t.fanout.warmstart import collections_by_theme, theme_key
from r4t.rewards.base import SetBatch


def pool_select(data: PreparedData, query_emb: np.ndarray, directions: np.ndarray, depth: int, alpha: float, k: int) -> list[int]:
    """k distinct items that DPP (``dpp_select``) picks from the union of every direction's
    top-``depth`` hits, candidates ranked by cosine to the query. A pool of fewer than k items
    (directions that all hit the same few) is filled from the query's own dense top-k first."""
    from r4t.retrievers.dpp import dpp_select  # retrievers import this module: import at call time

    ids = data.item_index.search(np.atleast_2d(directions).astype(np.float32), depth)[1]
    pool = list(dict.fromkeys(int(i) for i in ids.reshape(-1) if i >= 0))
    if len(pool) < k:
        dense = data.item_index.search(query_emb[None].astype(np.float32), k)[1][0]
        pool = list(dict.fromkeys(pool + [int(i) for i in dense if i >= 0]))
    rel = data.item_emb[pool] @ query_emb.astype(np.float32)
    order = np.argsort(-rel, kind="stable")
    ranked = [pool[i] for i in order]
    return [ranked[i] for i in dpp_select(data.item_emb[ranked], rel[order], alpha, k)]


def anchored(directions: np.ndarray, query: np.ndarray, anchor: float) -> np.ndarray:
    """Search directions between each sub-query and its query: ``normalize(anchor * q + (1 - anchor) * s)``.

    ``fanout_lm`` and synthesis share it, so a teacher's synthesized sets are the sets that
    fan-out would serve. ``anchor`` 0 returns the sub-query vectors unchanged."""
    if not anchor:
        return directions
    mixed = anchor * np.atleast_2d(query) + (1.0 - anchor) * directions
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


@dataclass
class GroundedFanout:
    """One completion, grounded: its sub-queries and the items they retrieved."""

    subqueries: list[str]
    top1: list[int]                 # nearest item per sub-query (may repeat)
    retrieved: list[list[int]]      # top-depth per sub-query
    batch: SetBatch                 # B = 1 view for the rewards


class FanoutGrounder:
    """``served_k``: score what the retriever serves instead of each sub-query's top-1 item:
    the batch then holds the ``served_k`` distinct items ``fanout_lm`` returns for the
    fan-out (``search_distinct`` over the sub-query vectors, plain top-k for one), standing
    in for the directions as the benchmark's composite does. On val, rewards on the served
    set predict the judge; rewards on sub-query top-1 items barely do
    (benchmarks/results/reward_vs_judge_*.md). ``anchor``: search each sub-query from between
    it and the query (``anchored``), as ``fanout_lm``'s ``anchor`` does; the rewards still see
    the sub-queries' own vectors. ``pool`` (depth, alpha): the served set is instead what DPP
    selects (``dpp_select``, quality exp(alpha cos(item, query))) from the union of every
    direction's top-``depth`` items: the fan-out proposes, the set objective picks
    (``pool_select``; benchmarks/results/synthesis_set_targets.md). ``rows_dpp`` (alpha): the served set
    is what ``fanout_lm`` serves with ``grounding: rows_dpp``: DPP over the query's dense top-100 with
    quality exp(alpha max cos(item, direction)) (``r4t.retrievers.dpp.rows_dpp``)."""

    def __init__(self, data: PreparedData, max_subqueries: int = 10, depth: int = 1, cache_size: int = 200_000,
                 served_k: int | None = None, anchor: float = 0.0, pool: tuple[int, float] | None = None,
                 rows_dpp: float | None = None) -> None:
        if depth < 1:
            raise DataError(f"grounding depth must be >= 1, got {depth}")
        if served_k is not None and not 1 <= served_k <= len(data.catalog):
            raise DataError(f"grounding served_k must be in [1, {len(data.catalog)}], got {served_k}")
        if not 0.0 <= anchor < 1.0:
            raise DataError(f"grounding anchor must be in [0, 1), got {anchor!r}")
        if pool is not None and (pool[0] < 1 or pool[1] < 0 or served_k is None):
            raise DataError(f"grounding pool needs depth >= 1, alpha >= 0 and served_k; got {pool}, served_k {served_k}")
        self.data, self.max_subqueries, self.depth, self.served_k, self.anchor = data, max_subqueries, depth, served_k, float(anchor)
        if rows_dpp is not None and (rows_dpp < 0 or served_k is None or pool is not None):
            raise DataError(f"grounding rows_dpp needs alpha >= 0 and served_k, and excludes pool; got {rows_dpp}, {served_k}, {pool}")
        self.pool, self.rows_dpp = pool, rows_dpp
        self._emb_cache: dict[str, np.ndarray] = {}
        self.cache_size = cache_size
        self._queries = {q.qid: (i, q) for i, q in enumerate(data.catalog.queries)}
        self._by_theme: dict[str, dict[str, list[int]]] = {}  # split -> theme -> collection indices
        self._codes = {a: torch.from_numpy(np.unique(v, return_inverse=True)[1]) for a, v in data.catalog.attributes.items()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, each distinct text once: policies repeat sub-queries a lot, and the
        encoder is the most expensive part of grounding."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._emb_cache]
        if missing:
            if len(self._emb_cache) + len(missing) > self.cache_size:
                self._emb_cache.clear()
            self._emb_cache.update(zip(missing, self.data.embedder.encode(missing)))
        return np.stack([self._emb_cache[t] for t in texts])

    def clear_cache(self) -> None:
        self._emb_cache.clear()

    def query(self, qid: str) -> tuple[int, Query]:
        if qid not in self._queries:
            raise DataError(f"unknown query id {qid!r} in catalog {self.data.catalog.name!r}")
        return self._queries[qid]

    def ground(self, completions: Sequence[str], query_texts: Sequence[str], qids: Sequence[str] | None = None) -> list[GroundedFanout | None]:
        """None for a completion that does not parse."""
        parsed = [parse_subqueries(c, self.max_subqueries) for c in completions]
        flat = [s for p in parsed if p for s in p]
        if not flat:
            return [None] * len(parsed)
        d = self.data
        sub_emb = self.encode(flat)
        q_emb = self.encode(list(query_texts))
        owner = np.repeat(np.arange(len(parsed)), [len(p) if p else 0 for p in parsed])
        search_emb = anchored(sub_emb, q_emb[owner], self.anchor)
        _, ids = d.item_index.search(search_emb, self.depth)
        out: list[GroundedFanout | None] = []
        cursor = 0
        for n, subs in enumerate(parsed):
            if not subs:
                out.append(None)
                continue
            rows = slice(cursor, cursor + len(subs))
            cursor += len(subs)
            top1 = ids[rows, 0].tolist()
            if self.served_k is None:
                batch = SetBatch(
                    query_emb=torch.from_numpy(q_emb[n : n + 1]),
                    subquery_emb=torch.from_numpy(sub_emb[rows])[None],
                    item_emb=torch.from_numpy(d.item_emb[top1])[None],
                    item_ids=[top1],
                    retrieved_ids=[ids[rows].tolist()],
                    item_attributes={a: c[top1][None] for a, c in self._codes.items()},
                )
            else:
                batch = self._served_batch(search_emb[rows], q_emb[n : n + 1])
            if qids is not None:
                self._add_ground_truth(batch, qids[n])
            out.append(GroundedFanout(subs, top1, ids[rows].tolist(), batch))
        return out

    def served(self, directions: np.ndarray, query_emb: np.ndarray | None = None) -> list[int]:
        """The items ``fanout_lm`` serves for these sub-query vectors (its exact calls), or,
        with ``pool``, what DPP selects from their hits, or with ``rows_dpp``, fanout_lm's rows_dpp set
        (both need ``query_emb``)."""
        index = self.data.item_index
        assert self.served_k is not None, "served() needs a grounder built with served_k"
        if (self.pool is not None or self.rows_dpp is not None) and query_emb is None:
            raise DataError("pool and rows_dpp grounding need the query's vector")
        if self.rows_dpp is not None:
            from r4t.retrievers.dpp import rows_dpp_per_query  # retrievers import this module: import at call time

            return rows_dpp_per_query(self.data, np.asarray(query_emb).reshape(1, -1), [directions], self.rows_dpp, self.served_k)[0]
        if self.pool is not None:
            return pool_select(self.data, np.asarray(query_emb).reshape(-1), directions, self.pool[0], self.pool[1], self.served_k)
        if len(directions) == 1:
            return index.search(directions, self.served_k)[1][0].tolist()
        return index.search_distinct(directions, self.served_k)

    def _served_batch(self, directions: np.ndarray, query_emb: np.ndarray) -> SetBatch:
        items = self.served(directions, query_emb)
        x = torch.from_numpy(self.data.item_emb[items])[None]
        return SetBatch(query_emb=torch.from_numpy(query_emb), subquery_emb=x, item_emb=x, item_ids=[items],
                        retrieved_ids=[[[i] for i in items]], item_attributes={a: c[items][None] for a, c in self._codes.items()})

    def _add_ground_truth(self, batch: SetBatch, qid: str) -> None:
        index, query = self.query(qid)
        if query.reference:
            batch.reference_ids = [list(query.reference)]
        if query.interpretations:
            texts = [f"{query.text} {v}" for v in query.interpretations]
            batch.target_emb = torch.from_numpy(self.encode(texts))[None]
        curated = self.curated_items(query)
        if curated:
            batch.curated_emb = torch.from_numpy(self.data.item_emb[curated])[None]

    def curated_items(self, query: Query) -> list[int]:
        """The items of the collections curated for ``query``'s theme, from its own split only (a
        training query never reads a held-out intent's collections); empty when none exist."""
        if query.split not in self._by_theme:
            self._by_theme[query.split] = collections_by_theme(self.data.catalog, query.split)
        cols = self._by_theme[query.split].get(theme_key(query.intent), []) if query.intent else []
        return list(dict.fromkeys(i for n in cols for i in self.data.catalog.collections[n].items))
