"""Score the sets a retriever returns with the same rewards, metrics and judge that
training uses.

Baselines such as dense top-k, MMR and DPP write no sub-queries, so here the set's
items stand in for the directions: alignment is the mean cosine of the items to the
query, and groundedness is not reported (it is 1 by construction). Items' role codes
for complementarity are the catalog attribute named by ``role_attribute`` or, with
``role_attribute="facet"``, each item's value of the query's own facet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from r4t.catalog.catalog import Query
from r4t.data.prepare import PreparedData
from r4t.metrics import DistinctItemsRatio, IntraListDiversity, RecallHitAtN
from r4t.metrics.judge import AttributeJudge
from r4t.retrievers.base import Retriever
from r4t.rewards import functional as F


@dataclass
class QualityReport:
    name: str
    values: dict[str, float]
    queries: int


class SetEvaluator:
    """Per-query scores of returned sets, averaged into one row per retriever."""

    def __init__(self, data: PreparedData, role_attribute: str = "facet") -> None:
        self.data = data
        self.role_attribute = role_attribute
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
        if self.judge is not None and query.intent:
            s = self.judge.score(query, items)
            out["judge_alignment"], out["judge_diversity"] = 20 * s.alignment, 20 * s.diversity
        return out

    def evaluate(self, retriever: Retriever, queries: Sequence[Query], k: int, name: str, batch_size: int = 64) -> QualityReport:
        rows = np.array([self._row[q.qid] for q in queries])
        sets: list[list[int]] = []
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            texts = [self.data.catalog.queries[r].text for r in chunk]
            sets += retriever.retrieve_indices_for(texts, self.data.query_emb[chunk], k)
        scores = [self.per_query(q, s) for q, s in zip(queries, sets)]
        keys = sorted({key for s in scores for key in s})
        values = {key: float(np.mean([s[key] for s in scores if key in s])) for key in keys}
        ild, distinct = IntraListDiversity(), DistinctItemsRatio(len(self.data.catalog))
        ild.update(torch.from_numpy(self.data.item_emb[np.array(sets)]))
        distinct.update(sets)
        values["intra_list_diversity"], values["distinct_items_ratio"] = ild.compute().item(), distinct.compute().item()
        refs = [(s, q.reference) for s, q in zip(sets, queries) if q.reference]
        if refs:
            rh = RecallHitAtN()
            rh.update([s for s, _ in refs], [r for _, r in refs])
            out = rh.compute()
            values[f"recall@{k}"], values[f"hit@{k}"] = out["recall"].item(), out["hit"].item()
        return QualityReport(name, values, len(queries))


def dense_recall_at(data: PreparedData, queries: Sequence[Query], n: int) -> dict[str, float]:
    """The paper's "No fan-out" Recall@N / Hit@N: the top-N dense hits for each query."""
    refs = [q for q in queries if q.reference]
    if not refs:
        return {}
    row = {q.qid: i for i, q in enumerate(data.catalog.queries)}
    n = min(n, len(data.catalog))
    _, ids = data.item_index.search(data.query_emb[[row[q.qid] for q in refs]], n)
    rh = RecallHitAtN()
    rh.update(ids.tolist(), [q.reference for q in refs])
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
            cells.append(f"**{cell}**" if v is not None and len(reports) > 1 and abs(v - best[c]) < 1e-12 else cell)
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
