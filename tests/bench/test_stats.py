import numpy as np
import pytest

from r4t.bench.stats import bootstrap_ci, paired_permutation_test, median_ratio


def test_bootstrap_ci_contains_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.normal(0.5, 0.1, 20))
    large = bootstrap_ci(rng.normal(0.5, 0.1, 2000))
    assert small.lo <= small.mean <= small.hi
    assert large.lo < 0.5 < large.hi
    assert (large.hi - large.lo) < (small.hi - small.lo) / 5


def test_bootstrap_ci_constant_and_deterministic():
    est = bootstrap_ci(np.full(7, 0.3))
    assert est.mean == pytest.approx(0.3) and est.lo == pytest.approx(0.3) and est.hi == pytest.approx(0.3)
    x = np.random.default_rng(1).random(50)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([]))
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([1.0, np.nan]))


def test_paired_test_known_answers():
    rng = np.random.default_rng(0)
    a = rng.random(100)
    assert paired_permutation_test(a, a) == 1.0
    assert paired_permutation_test(a + 0.5, a) < 0.001          # a clear, consistent gain
    noise = rng.normal(0, 1, 100)
    assert paired_permutation_test(a + 0.001 * noise, a) > 0.05  # tiny random differences
    with pytest.raises(ValueError):
        paired_permutation_test(a, a[:-1])


def test_median_ratio_known_answers_and_drift_cancelling_pairs():
    rng = np.random.default_rng(0)
    fast = rng.uniform(0.01, 0.05, size=30)  # rounds of very different machine speed
    est = median_ratio(4.0 * fast, fast)
    # Pairing keeps every resample's ratio at exactly 4 despite the spread of the times.
    assert est.mean == pytest.approx(4.0) and est.lo == pytest.approx(4.0) and est.hi == pytest.approx(4.0) and est.n == 30
    noisy = median_ratio(4.0 * fast * rng.uniform(0.9, 1.1, size=30), fast)
    assert noisy.lo < 4.0 < noisy.hi and noisy.hi - noisy.lo < 0.5
    assert median_ratio(2 * fast, fast, seed=3) == median_ratio(2 * fast, fast, seed=3)
    with pytest.raises(ValueError, match="same non-zero number"):
        median_ratio(fast, fast[:-1])
    with pytest.raises(ValueError, match="positive denominator"):
        median_ratio(fast, np.zeros(30))
