"""faiss's BLAS crossover is set for the thread count, small searches run serially, and
neither changes what a search returns."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from r4t.catalog import faiss_threads
from r4t.catalog.faiss_threads import ENV, NQ_TIMES_D_DEFAULT, PER_THREAD, SERIAL_ENV, SERIAL_WORK, threads_for_search, tune_blas_threshold
from r4t.catalog.index import CatalogIndex
from r4t.errors import ConfigError


@pytest.fixture(autouse=True)
def restore_threshold(monkeypatch):
    saved, threads = faiss.cvar.distance_compute_blas_threshold, faiss.omp_get_max_threads()
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(SERIAL_ENV, raising=False)
    yield
    faiss.cvar.distance_compute_blas_threshold = saved
    faiss.omp_set_num_threads(threads)


def test_faiss_default_becomes_thread_aware(monkeypatch):
    faiss.cvar.distance_compute_blas_threshold = NQ_TIMES_D_DEFAULT
    monkeypatch.setattr(faiss_threads.faiss, "omp_get_max_threads", lambda: 3)
    assert tune_blas_threshold() == 3 * PER_THREAD
    assert faiss.cvar.distance_compute_blas_threshold == 3 * PER_THREAD
    monkeypatch.setattr(faiss_threads.faiss, "omp_get_max_threads", lambda: 64)
    assert tune_blas_threshold() == 3 * PER_THREAD  # idempotent: a tuned value is kept


def test_a_value_that_is_not_the_nq_times_d_default_is_kept():
    faiss.cvar.distance_compute_blas_threshold = 20  # older faiss (nq < 20 rule) or a user's own choice
    assert tune_blas_threshold() == 20
    assert faiss.cvar.distance_compute_blas_threshold == 20


def test_environment_override(monkeypatch):
    faiss.cvar.distance_compute_blas_threshold = NQ_TIMES_D_DEFAULT
    monkeypatch.setenv(ENV, "5000")
    assert tune_blas_threshold() == 5000
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(ConfigError, match=ENV):
        tune_blas_threshold()


def test_blas_and_scan_paths_return_the_same_neighbours():
    rng = np.random.default_rng(0)
    items = rng.standard_normal((3000, 48)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = rng.standard_normal((80, 48)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index = CatalogIndex(items)
    faiss.cvar.distance_compute_blas_threshold = 1  # BLAS for every batch
    blas_scores, blas_ids = index.search(queries, 10)
    faiss.cvar.distance_compute_blas_threshold = 2**31 - 1  # SIMD scan for every batch
    scan_scores, scan_ids = index.search(queries, 10)
    np.testing.assert_array_equal(blas_ids, scan_ids)
    np.testing.assert_allclose(blas_scores, scan_scores, atol=1e-5)
    exact = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    np.testing.assert_array_equal(blas_ids, exact)


def test_small_searches_run_on_one_thread_and_large_ones_keep_all():
    faiss.omp_set_num_threads(2)
    small = int(SERIAL_WORK // (24_000 * 384))  # rows of a search just below the bound
    with threads_for_search(small, 24_000, 384) as used:
        assert used == 1 and faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == 2  # restored
    with threads_for_search(small + 1, 24_000, 384) as used:
        assert used == 2 and faiss.omp_get_max_threads() == 2
    with pytest.raises(RuntimeError):
        with threads_for_search(1, 10, 4):
            raise RuntimeError("search failed")
    assert faiss.omp_get_max_threads() == 2  # restored on errors too


def test_serial_bound_environment_override(monkeypatch):
    faiss.omp_set_num_threads(2)
    monkeypatch.setenv(SERIAL_ENV, "0")  # never serial
    with threads_for_search(1, 10, 4) as used:
        assert used == 2
    monkeypatch.setenv(SERIAL_ENV, "lots")
    with pytest.raises(ConfigError, match=SERIAL_ENV):
        with threads_for_search(1, 10, 4):
            pass


def test_serial_and_parallel_searches_return_the_same_neighbours(monkeypatch):
    rng = np.random.default_rng(1)
    items = rng.standard_normal((3000, 48)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    rows = rng.standard_normal((8, 10, 48)).astype(np.float32)
    faiss.omp_set_num_threads(2)
    index = CatalogIndex(items)
    serial = index.search_distinct(rows, 10)
    monkeypatch.setenv(SERIAL_ENV, "0")
    assert index.search_distinct(rows, 10) == serial
