"""Score the sets a retriever returns with the same rewards, metrics and judge that
training uses.

Baselines such as dense top-k, MMR and DPP write no sub-queries, so here the set's
items stand in for the directions: alignment is the mean cosine of the items to the
query, and groundedness is not reported (it is 1 by construction). Items' role codes
for complementarity are the catalog attribute named by ``role_attribute`` or, with
``role_attribute="facet"``, each item's value of the query's own facet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from r4t.catalog.catalog import Query
from r4t.data.prepare import PreparedData
from r4t.errors import ConfigError
from r4t.metrics import DistinctItemsRatio, IntraListDiversity, RecallHitAtN
from r4t.metrics.judge import AttributeJudge
from r4t.retrievers.base import Retriever
from r4t.rewards import build_reward
from r4t.rewards import functional as F
from r4t.rewards.base import SetBatch

# The paper's WSCR budget: 500 candidates x 10 directions = 5,000 of Polyvore's 142,472 items.
PAPER_WSCR_BUDGET, PAPER_WSCR_CATALOG = 5000, 142_472
PAPER_WSCR_FRACTION = PAPER_WSCR_BUDGET / PAPER_WSCR_CATALOG  # ~3.5% of the catalog


def intent_cluster(query: Query) -> str:
    """The independent unit a query belongs to: its intent (paraphrases of one intent are
    one cluster), or its normalised text when it has none (real data without intents)."""
    if query.intent:
        return repr(sorted((a, sorted(v)) for a, v in query.intent.items()))
    return " ".join(query.text.lower().split())


def wscr_budget(catalog_size: int, depth: int, k: int, max_fraction: float = PAPER_WSCR_FRACTION) -> int:
    """Candidates per query for Recall/Hit in the WSCR protocol: the paper's ``depth * k``
    (5,000), capped at the share of the catalog it was in the paper (~3.5%). Without the cap
    a catalog of a few thousand items is reached whole and every method scores 1.0."""
    budget = min(depth * k, int(max_fraction * catalog_size))
    if budget < k:
        raise ConfigError(f"the WSCR budget for a catalog of {catalog_size} items is {budget} candidates, fewer than k={k}: "
                          f"Recall/Hit at that depth cannot discriminate; run with --wscr-depth 0 to skip it")
    return budget


@dataclass
class QualityReport:
    """Means per metric, plus the per-query scores (NaN where a query has no such score)
    that confidence intervals and paired tests need; ``qids`` and ``clusters`` (intents)
    name the queries, so reports on different subsets pair up and resample by intent."""

    name: str
    values: dict[str, float]
    queries: int
    per_query: dict[str, np.ndarray] = field(default_factory=dict)
    sets: list[list[int]] = field(default_factory=list)
    qids: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)

    @property
    def intents(self) -> int:
        return len(set(self.clusters))


class SetEvaluator:
    """Per-query scores of returned sets, averaged into one row per retriever."""

    def __init__(self, data: PreparedData, role_attribute: str = "facet", reward: Any = None) -> None:
        self.data = data
        self.role_attribute = role_attribute
        # The training reward scored on the returned set, the items standing in for the
        # directions (so groundedness is 1 for every retriever that returns catalog items).
        self.reward = build_reward(reward) if reward is not None else None
        self.judge = AttributeJudge(data.catalog) if data.catalog.attributes else None
        self._row = {q.qid: i for i, q in enumerate(data.catalog.queries)}
        self._codes = {a: np.unique(v, return_inverse=True)[1] for a, v in data.catalog.attributes.items()}
        self._target_cache: dict[str, torch.Tensor] = {}

    def _targets(self, query: Query) -> torch.Tensor:
        """Interpretation embeddings, computed once per query however many retrievers are scored."""
        if query.qid not in self._target_cache:
            texts = [f"{query.text} {v}" for v in query.interpretations]
            self._target_cache[query.qid] = torch.from_numpy(self.data.embedder.encode(texts))
        return self._target_cache[query.qid]

    def _roles(self, query: Query, items: Sequence[int]) -> torch.Tensor | None:
        attr = query.facet if self.role_attribute == "facet" else self.role_attribute
        if not attr or attr not in self._codes:
            return None
        return torch.from_numpy(self._codes[attr][list(items)])

    def per_query(self, query: Query, items: Sequence[int]) -> dict[str, float]:
        d = self.data
        x = torch.from_numpy(d.item_emb[list(items)])
        q = torch.from_numpy(d.query_emb[self._row[query.qid]])
        out = {
            "vendi_diversity": F.normalized_vendi(x).item(),
            "alignment": F.alignment(x, q).item(),
            "complementarity": F.complementarity(x, self._roles(query, items)).item(),
            "coherence": F.coherence(x).item(),
        }
        if query.interpretations:
            out["coverage"] = F.coverage(x, self._targets(query)).item()
        if self.judge is not None and query.intent and query.facet and query.interpretations:  # what the judge needs
            s = self.judge.score(query, items)
            out["judge_alignment"], out["judge_diversity"] = 20 * s.alignment, 20 * s.diversity
            out["judge_mean"] = 10 * (s.alignment + s.diversity)  # the leaderboard's headline: mean of the two
        if self.reward is not None:
            out.update(self._reward_terms(query, items, x, q))
        return out

    def _reward_terms(self, query: Query, items: Sequence[int], x: torch.Tensor, q: torch.Tensor) -> dict[str, float]:
        assert self.reward is not None
        ids = [int(i) for i in items]
        batch = SetBatch(
            query_emb=q[None], subquery_emb=x[None], item_emb=x[None], item_ids=[ids],
            retrieved_ids=[[[i] for i in ids]],
            reference_ids=[list(query.reference)] if query.reference else None,
            target_emb=self._targets(query)[None] if query.interpretations else None,
            item_attributes={a: torch.from_numpy(c[ids])[None] for a, c in self._codes.items()},
        )
        result = self.reward(batch)
        out = {f"reward/{name}": float(v[0]) for name, v in result.terms.items()}
        out["reward/composite"] = float(result.total.reshape(-1)[0])
        return out

    def evaluate(self, retriever: Retriever, queries: Sequence[Query], k: int, name: str, batch_size: int = 64) -> QualityReport:
        return self.score(self.retrieve_sets(retriever, queries, k, batch_size), queries, k, name)

    def retrieve_sets(self, retriever: Retriever, queries: Sequence[Query], k: int, batch_size: int = 64) -> list[list[int]]:
        """The sets, retrieved in batches (the expensive half; ranks can split it)."""
        return retrieve_in_batches(retriever, self.data, [self._row[q.qid] for q in queries], k, batch_size)

    def score(self, sets: Sequence[Sequence[int]], queries: Sequence[Query], k: int, name: str) -> QualityReport:
        """Every per-query score and set-level metric of ``sets`` (one per query)."""
        if len(sets) != len(queries):
            raise ValueError(f"{len(sets)} sets for {len(queries)} queries")
        sets = [list(map(int, s)) for s in sets]
        scores = [self.per_query(q, s) for q, s in zip(queries, sets)]
        keys = sorted({key for s in scores for key in s})
        per_query = {key: np.array([s.get(key, np.nan) for s in scores], dtype=np.float64) for key in keys}
        values = {key: float(np.nanmean(v)) for key, v in per_query.items()}
        # Every rank scores the full gathered list of sets (r4t.bench.distributed), so these
        # metrics must not sum their states across processes again.
        ild, distinct = IntraListDiversity(sync_on_compute=False), DistinctItemsRatio(len(self.data.catalog), sync_on_compute=False)
        ild.update(torch.from_numpy(self.data.item_emb[np.array(sets)]))
        distinct.update(sets)
        values["intra_list_diversity"], values["distinct_items_ratio"] = ild.compute().item(), distinct.compute().item()
        refs = [(s, q.reference) for s, q in zip(sets, queries) if q.reference]
        if refs:
            rh = RecallHitAtN(sync_on_compute=False)
            rh.update([s for s, _ in refs], [r for _, r in refs])
            out = rh.compute()
            values[f"recall@{k}"], values[f"hit@{k}"] = out["recall"].item(), out["hit"].item()
            pairs = [F.recall_and_hit(s, q.reference) if q.reference else (np.nan, np.nan) for s, q in zip(sets, queries)]
            per_query[f"recall@{k}"] = np.array([p[0] for p in pairs], dtype=np.float64)
            per_query[f"hit@{k}"] = np.array([p[1] for p in pairs], dtype=np.float64)
        return QualityReport(name, values, len(queries), per_query, [list(s) for s in sets], [q.qid for q in queries],
                             [intent_cluster(q) for q in queries])


def wscr_scores(evaluator: SetEvaluator, retriever: Retriever, queries: Sequence[Query], k: int, budget: int = 5000,
                runs: int = 5) -> dict[str, np.ndarray]:
    """The paper's compositional protocol, per query: ``wscr_recall`` and ``wscr_hit`` of
    the union of the candidates of every direction (``budget`` in all, split evenly over
    the directions; see ``wscr_budget``), and the normalised Vendi of ``runs`` repeated
    retrievals with different seeds (diversity/stability; 0 for a deterministic retriever)."""
    from r4t.metrics import NormalizedVendiAcrossRuns

    data = evaluator.data
    rows = np.array([evaluator._row[q.qid] for q in queries], dtype=np.int64)
    texts = [q.text for q in queries]
    emb = data.query_emb[rows]
    dirs = retriever.directions(texts, emb)
    n = min(budget, len(data.catalog))
    recall, hit = [], []
    for q, d in zip(queries, dirs):
        # Equal candidate budget n for every method: 10 directions x 500, or 1 direction x 5000 (the paper's "No fan-out").
        per_direction = min(-(-n // len(d)), len(data.catalog))
        _, ids = data.item_index.search(np.ascontiguousarray(d, dtype=np.float32), per_direction)
        pool = list(dict.fromkeys(int(i) for i in ids.ravel() if i >= 0))
        r, h = F.recall_and_hit(pool, q.reference) if q.reference else (np.nan, np.nan)
        recall.append(r)
        hit.append(h)
    base_seed = getattr(retriever, "seed", None)
    seeded: Any = retriever  # a retriever with a ``seed`` attribute: each run draws with its own seed
    per_run = []
    for run in range(runs):
        if base_seed is not None:
            seeded.seed = base_seed + run
        per_run.append(retriever.retrieve_indices_for(texts, emb, k))
    if base_seed is not None:
        seeded.seed = base_seed
    vendi = []
    for i in range(len(queries)):
        x = torch.from_numpy(data.item_emb[np.array([per_run[r][i] for r in range(runs)])])[None]  # [1, R, k, d]
        metric = NormalizedVendiAcrossRuns(sync_on_compute=False)
        metric.update(x)
        vendi.append(metric.compute().item())
    return {"wscr_recall": np.array(recall), "wscr_hit": np.array(hit), f"vendi_across_{runs}_runs": np.array(vendi)}


def dense_recall_at(data: PreparedData, queries: Sequence[Query], n: int) -> dict[str, float]:
    """The paper's "No fan-out" Recall@N / Hit@N: the top-N dense hits for each query."""
    refs = [q for q in queries if q.reference]
    if not refs:
        return {}
    row = {q.qid: i for i, q in enumerate(data.catalog.queries)}
    n = min(n, len(data.catalog))
    _, ids = data.item_index.search(data.query_emb[[row[q.qid] for q in refs]], n)
    rh = RecallHitAtN(sync_on_compute=False)
    rh.update(ids.tolist(), [q.reference for q in refs if q.reference])
    out = rh.compute()
    return {f"recall@{n}": out["recall"].item(), f"hit@{n}": out["hit"].item()}


def format_table(reports: Sequence[QualityReport], columns: Sequence[str] | None = None) -> str:
    """A Markdown table, best value per column in bold (higher is better for every column)."""
    columns = list(columns or sorted({c for r in reports for c in r.values}))
    best = {c: max((r.values[c] for r in reports if c in r.values), default=None) for c in columns}
    lines = ["| retriever | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for r in reports:
        cells = []
        for c in columns:
            v = r.values.get(c)
            cell = "n/a" if v is None else f"{v:.3f}"
            top = best[c]
            cells.append(f"**{cell}**" if v is not None and top is not None and len(reports) > 1 and abs(v - top) < 1e-12 else cell)
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def retrieve_in_batches(retriever: Retriever, data: PreparedData, rows: Sequence[int], k: int, batch_size: int = 64) -> list[list[int]]:
    """Sets for the catalog's queries at ``rows`` (positions in ``catalog.queries``), ``batch_size``
    queries per call, with their cached query vectors."""
    positions = np.asarray(rows, dtype=np.int64)
    sets: list[list[int]] = []
    for start in range(0, len(positions), batch_size):
        chunk = positions[start : start + batch_size]
        texts = [data.catalog.queries[r].text for r in chunk]
        sets += retriever.retrieve_indices_for(texts, data.query_emb[chunk], k)
    return sets


@dataclass
class Study:
    """What a val study script needs: the config, its prepared data, an evaluator with the
    catalog's role attribute and the config's composite, and the split's open queries."""

    cfg: dict[str, Any]
    data: PreparedData
    evaluator: SetEvaluator
    queries: list[Query]


def open_query_study(config: str, split: str) -> Study:
    """One setup for every benchmark script that scores sets on a split's open queries, so
    they all judge with the same role attribute and composite (the paper's OAR weights
    without a ``reward:`` section)."""
    from r4t.config import load_config
    from r4t.data.prepare import DataConfig, prepare_data

    cfg = load_config(config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    evaluator = SetEvaluator(data, role_attribute="category" if data.catalog.domain == "fashion" else "facet",
                             reward=cfg.get("reward") or {})
    return Study(cfg, data, evaluator, list(data.catalog.queries_for(split=split, kind="open")))
