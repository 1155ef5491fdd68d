import numpy as np
import pytest

from r4t.bench.stats import bootstrap_ci, median_ratio, paired_permutation_test


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


def test_cluster_bootstrap_widens_for_paraphrases_and_counts_intents():
    rng = np.random.default_rng(0)
    # 10 intents x 4 paraphrases: paraphrases share their intent's score (fully correlated).
    intent_scores = rng.normal(0.5, 0.2, 10)
    x = np.repeat(intent_scores, 4)
    clusters = np.repeat(np.arange(10), 4)
    naive = bootstrap_ci(x)
    clustered = bootstrap_ci(x, clusters=list(clusters))
    assert clustered.mean == pytest.approx(naive.mean) and clustered.clusters == 10 and naive.clusters is None
    assert (clustered.hi - clustered.lo) > 1.5 * (naive.hi - naive.lo)  # ~sqrt(4) wider: 10 units, not 40
    # one query per cluster is the unclustered bootstrap exactly
    assert bootstrap_ci(x, clusters=list(range(40))) == dataclasses_replace(naive, clusters=40)
    assert "clusters" in clustered.as_dict() and "clusters" not in naive.as_dict()
    with pytest.raises(ValueError, match="cluster labels"):
        bootstrap_ci(x, clusters=[0, 1])


def dataclasses_replace(est, **kw):
    import dataclasses

    return dataclasses.replace(est, **kw)


def test_cluster_sign_flip_known_answers():
    # Exact enumeration: 3 intents all positive -> only the all-+ and all-- patterns reach
    # the observed |sum|, so p = 2 / 2^3.
    a, b = np.array([1.0, 1.0, 2.0, 2.0, 3.0]), np.zeros(5)
    assert paired_permutation_test(a, b, clusters=["x", "x", "y", "y", "z"]) == pytest.approx(2 / 8)
    # The same gain counted per paraphrase looks far more certain than it is.
    rng = np.random.default_rng(1)
    gain = np.repeat(rng.normal(0.1, 0.3, 6), 10)
    per_query = paired_permutation_test(gain, np.zeros(60))
    per_intent = paired_permutation_test(gain, np.zeros(60), clusters=list(np.repeat(np.arange(6), 10)))
    assert per_query < 0.01 and per_intent >= 2 / 2**6 and per_intent > 10 * per_query
    assert paired_permutation_test(a, a, clusters=list("xxyyz")) == 1.0
