"""Uncertainty for benchmark numbers: bootstrap confidence intervals over queries, a
paired test between two retrievers scored on the same queries, and a paired bootstrap
interval for a speed-up measured in interleaved rounds.

Paraphrases of one intent are not independent samples (fashion has 20 open test queries
over 10 intents), so the benchmark passes ``clusters`` (one label per query, its intent):
the interval then resamples whole intents (cluster bootstrap) and the test flips the sign
of each intent's summed difference (cluster-level sign flips, exact when there are few
intents). Without clusters each query is its own cluster, which is the old behaviour.

All are seeded, so a record regenerates bit-for-bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate (a mean over queries, or a speed-up) with its percentile-bootstrap
    95% interval; ``clusters`` is the number of independent units resampled (intents)."""

    mean: float
    lo: float
    hi: float
    n: int
    clusters: int | None = None

    def as_dict(self) -> dict[str, float | int | list[float]]:
        out: dict[str, float | int | list[float]] = {"mean": self.mean, "ci95": [self.lo, self.hi], "n": self.n}
        if self.clusters is not None:
            out["clusters"] = self.clusters
        return out


def _cluster_sums(x: np.ndarray, clusters: Sequence[object] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums and sizes of ``x`` (each value its own cluster when ``clusters`` is None)."""
    if clusters is None:
        return x, np.ones_like(x)
    labels = list(clusters)
    if len(labels) != x.size:
        raise ValueError(f"{len(labels)} cluster labels for {x.size} values")
    order: dict[str, int] = {}  # clusters numbered by first appearance: singleton clusters resample like queries
    inverse = np.array([order.setdefault(str(c), len(order)) for c in labels], dtype=np.int64)
    return np.bincount(inverse, weights=x), np.bincount(inverse).astype(np.float64)


def bootstrap_ci(values: np.ndarray, resamples: int = 2000, level: float = 0.95, seed: int = 0,
                 clusters: Sequence[object] | None = None) -> Estimate:
    """Percentile bootstrap of the mean: resample clusters (intents) with replacement, or
    queries when ``clusters`` is None; each resample's mean weighs every query equally."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.isfinite(x).all():
        raise ValueError("bootstrap_ci got NaN or inf scores")
    sums, sizes = _cluster_sums(x, clusters)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, sums.size, size=(resamples, sums.size))
    means = sums[pick].sum(axis=1) / sizes[pick].sum(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(float(x.mean()), float(lo), float(hi), int(x.size), None if clusters is None else int(sums.size))


def paired_permutation_test(a: np.ndarray, b: np.ndarray, resamples: int = 10000, seed: int = 0,
                            clusters: Sequence[object] | None = None) -> float:
    """Two-sided p-value for "a and b have the same mean" on paired per-query scores: flip
    the sign of each cluster's summed difference (each query's when ``clusters`` is None),
    exact under the null that the two labels are exchangeable within a cluster. With at
    most log2(resamples) clusters every sign pattern is enumerated (the smallest possible
    p is then 2 / 2^clusters: ten intents cannot give p < 0.002). Identical scores give p = 1."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired test needs scores on the same queries: {a.size} vs {b.size}")
    d, _ = _cluster_sums(a - b, clusters)
    observed = abs(d.sum())
    if observed == 0.0:
        return 1.0
    if 2 ** d.size <= resamples:
        patterns = ((np.arange(2 ** d.size)[:, None] >> np.arange(d.size)) & 1) * 2.0 - 1.0
        null = np.abs(patterns @ d)
        return float(np.mean(null >= observed * (1 - 1e-12)))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, d.size))
    null = np.abs(signs @ d)
    # +1 in numerator and denominator: the observed labelling is one of the permutations
    return float((np.sum(null >= observed * (1 - 1e-12)) + 1) / (resamples + 1))


def median_ratio(numerator: np.ndarray, denominator: np.ndarray, resamples: int = 2000, level: float = 0.95,
                 seed: int = 0) -> Estimate:
    """The median of per-round ratios numerator/denominator (e.g. a speed-up from rounds of
    interleaved calls) with its percentile-bootstrap interval over rounds. Each round's ratio
    cancels what that round did to both methods (a slow moment of a shared machine), which
    a ratio of the two medians would not."""
    a, b = np.asarray(numerator, dtype=np.float64).ravel(), np.asarray(denominator, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"median_ratio needs the same non-zero number of rounds: {a.size} vs {b.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or (b <= 0).any():
        raise ValueError("median_ratio needs finite times and a positive denominator")
    ratios = a / b
    rng = np.random.default_rng(seed)
    medians = np.median(ratios[rng.integers(0, ratios.size, size=(resamples, ratios.size))], axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(medians, [tail, 1.0 - tail])
    return Estimate(float(np.median(ratios)), float(lo), float(hi), int(ratios.size))
