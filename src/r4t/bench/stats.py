"""Uncertainty for benchmark numbers: bootstrap confidence intervals over queries, a
paired test between two retrievers scored on the same queries, and a paired bootstrap
interval for a speed-up measured in interleaved rounds.

Both are seeded, so a record regenerates bit-for-bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate (a mean over queries, or a speed-up) with its percentile-bootstrap 95% interval."""

    mean: float
    lo: float
    hi: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "ci95": [self.lo, self.hi], "n": self.n}


def bootstrap_ci(values: np.ndarray, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Percentile bootstrap of the mean: resample queries with replacement."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.isfinite(x).all():
        raise ValueError("bootstrap_ci got NaN or inf scores")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(float(x.mean()), float(lo), float(hi), int(x.size))


def paired_permutation_test(a: np.ndarray, b: np.ndarray, resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value for "a and b have the same mean" on paired per-query scores:
    randomly flip the sign of each query's difference (exact under the null that the two
    labels are exchangeable within a query). Identical scores give p = 1."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired test needs scores on the same queries: {a.size} vs {b.size}")
    d = a - b
    observed = abs(d.mean())
    if observed == 0.0:
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, d.size))
    null = np.abs((signs * d).mean(axis=1))
    # +1 in numerator and denominator: the observed labelling is one of the permutations
    return float((np.sum(null >= observed - 1e-15) + 1) / (resamples + 1))


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
