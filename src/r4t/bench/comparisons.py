"""How retrievers are compared in a benchmark run: intent-clustered intervals per metric,
paired sign-flip tests against the controls and classic baselines, and the parsed-only
subset of a fan-out LM's report."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from r4t.bench.set_quality import QualityReport
from r4t.bench.stats import bootstrap_ci, paired_permutation_test

# Every retriever is tested against each of these: the controls and the classic baselines.
REFERENCES = ("dense_topk", "query_jitter", "mmr", "dpp")
TESTED_METRICS = ("judge_mean", "judge_alignment", "judge_diversity", "reward/composite", "recall@10", "wscr_recall")


def estimates(report: QualityReport, seed: int) -> dict[str, dict]:
    """Every metric's mean with its intent-clustered bootstrap interval."""
    out = {}
    clusters = np.array(report.clusters, dtype=object)
    for key, values in report.per_query.items():
        ok = np.isfinite(values)
        if ok.any():
            out[key] = bootstrap_ci(values[ok], seed=seed, clusters=list(clusters[ok]) if len(clusters) else None).as_dict()
    return out


def paired_scores(a: QualityReport, b: QualityReport, metric: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``metric`` of the queries both reports scored (by query id; a fan-out LM's report
    holds only its parsed queries), with their intent clusters."""
    where = {qid: i for i, qid in enumerate(b.qids)}
    rows = [(i, where[qid]) for i, qid in enumerate(a.qids) if qid in where]
    if not rows or metric not in a.per_query or metric not in b.per_query:
        return np.empty(0), np.empty(0), []
    x = a.per_query[metric][[i for i, _ in rows]]
    y = b.per_query[metric][[j for _, j in rows]]
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok], [a.clusters[i] for (i, _), keep in zip(rows, ok) if keep]


def paired_tests(results: Sequence[Any], kind: str, seed: int) -> dict[str, list[dict]]:
    """Per retriever: a paired test on each tested metric against every control and classic
    baseline of the run (dense top-k, query_jitter, MMR, DPP; never against itself), on the
    queries both scored, with signs flipped per intent."""
    tests: dict[str, list[dict]] = {r.entry.label: [] for r in results}
    references = [r for r in results if r.entry.name in REFERENCES and kind in r.quality]
    for metric in TESTED_METRICS:
        for r in results:
            if kind not in r.quality:
                continue
            for ref in references:
                if ref is r:
                    continue
                a, b, clusters = paired_scores(r.quality[kind], ref.quality[kind], metric)
                if not a.size:
                    continue
                tests[r.entry.label].append({"metric": metric, "against": ref.entry.label, "queries": int(a.size),
                                             "intents": len(set(clusters)), "difference": float(np.mean(a - b)),
                                             "p_value": paired_permutation_test(a, b, seed=seed, clusters=clusters)})
    return tests


def subset_report(report: QualityReport, keep: Sequence[bool]) -> QualityReport:
    """``report`` restricted to the queries flagged in ``keep`` (per-query scores only: the
    set-level metrics of the subset are recomputed from its sets by the means)."""
    idx = [i for i, k in enumerate(keep) if k]
    per_query = {key: v[idx] for key, v in report.per_query.items()}
    values = {key: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for key, v in per_query.items()}
    return QualityReport(report.name, values, len(idx), per_query, [report.sets[i] for i in idx],
                         [report.qids[i] for i in idx], [report.clusters[i] for i in idx])
