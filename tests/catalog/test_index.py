import numpy as np
import pytest

from r4t.catalog.grounding import distinct_from_candidates, distinct_within_pool
from r4t.catalog.index import CatalogIndex
from r4t.errors import ConfigError, DataError
from tests.catalog.helpers import unit


def test_exact_search_matches_brute_force():
    rng = np.random.default_rng(0)
    base, queries = unit(rng, 500), unit(rng, 20)
    scores, ids = CatalogIndex(base).search(queries, 5)
    brute = np.argsort(-(queries @ base.T), axis=1)[:, :5]
    np.testing.assert_array_equal(ids, brute)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ base.T, brute, 1), rtol=1e-5)


def test_factory_strings_work_and_bad_ones_fail_clearly():
    rng = np.random.default_rng(1)
    base = unit(rng, 2000)
    ivf = CatalogIndex(base, factory="IVF16,Flat", nprobe=16)  # probing every list = exact
    np.testing.assert_array_equal(ivf.search(base[:5], 1)[1][:, 0], np.arange(5))
    with pytest.raises(ConfigError, match="index_factory rejected 'NotAnIndex'"):
        CatalogIndex(base, factory="NotAnIndex")


def test_search_distinct_returns_k_distinct_even_when_rows_collapse():
    rng = np.random.default_rng(2)
    base = unit(rng, 300)
    same = np.repeat(base[:1], 10, axis=0)  # ten identical rows
    ids = CatalogIndex(base).search_distinct(same, 10)
    assert len(ids) == len(set(ids)) == 10 and ids[0] == 0
    batch = CatalogIndex(base).search_distinct(np.stack([base[:10], same]), 10)
    assert [len(set(b)) for b in batch] == [10, 10]
    assert set(batch[0]) == set(range(10))  # each row keeps its own nearest item


def test_bad_input_fails_early():
    base = unit(np.random.default_rng(3), 50)
    index = CatalogIndex(base)
    with pytest.raises(ConfigError, match="only 50"):
        index.search_distinct(base[:3], 51)
    with pytest.raises(DataError, match="dimension 8 does not match the expected 16"):
        index.search(np.ones((1, 8), np.float32), 1)
    with pytest.raises(DataError, match="NaN"):
        index.search(np.full((1, 16), np.nan, np.float32), 1)
    with pytest.raises(DataError, match="empty catalog"):
        CatalogIndex(np.zeros((0, 16), np.float32))


def test_save_load_checks_fingerprint(tmp_path):
    rng = np.random.default_rng(4)
    base = unit(rng, 100)
    index = CatalogIndex(base)
    index.save(tmp_path / "idx")
    loaded = CatalogIndex.load(tmp_path / "idx", expected_fingerprint=index.fingerprint)
    np.testing.assert_array_equal(loaded.search(base[:3], 2)[1], index.search(base[:3], 2)[1])
    with pytest.raises(DataError, match="built from other vectors"):
        CatalogIndex.load(tmp_path / "idx", expected_fingerprint="0" * 16)


def test_distinct_from_candidates_round_robin_known_answer():
    ids = np.array([[5, 6, 7], [5, 8, 9]])
    scores = np.array([[0.9, 0.5, 0.4], [0.8, 0.7, 0.1]])
    # round 1: row 0 (0.9) takes 5; row 1's 5 is taken, so it takes 8. round 2: 6, then 9.
    assert distinct_from_candidates(ids, scores, 4) == [5, 8, 6, 9]
    assert distinct_from_candidates(ids, scores, 10) == [5, 8, 6, 9, 7]  # runs out honestly


def test_distinct_within_pool_never_leaves_the_pool_known_answer():
    items = np.eye(6, dtype=np.float32)            # item i is the unit vector e_i
    rows = np.array([[[0, 0, 0, 0, 0, 1.0],        # nearest item overall: 5, which is outside the pool
                      [0, 0.9, 0.1, 0, 0, 0]]], dtype=np.float32)
    pool = np.array([[1, 2, 3]])
    # row 1 takes 1 (0.9), then row 0 (all its pool scores 0: ties keep the pool's order) takes 2, then row 1 takes 3
    assert distinct_within_pool(rows, pool, items, 3) == [[1, 2, 3]]
    assert distinct_within_pool(rows, pool, items, 2) == [[1, 2]]
    with pytest.raises(ConfigError, match="pool of 3 cannot hold 4"):
        distinct_within_pool(rows, pool, items, 4)
