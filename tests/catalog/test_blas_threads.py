"""serial_blas: serving-size numpy products run on one BLAS thread, large ones keep every thread."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from r4t.catalog.blas_threads import SERIAL_FLOPS, serial_blas


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_small_products_run_serially_and_the_setting_is_restored():
    np.ones((2, 2)) @ np.ones((2, 2))  # numpy's BLAS is loaded
    before = _blas_threads()
    with serial_blas(1e6):
        assert _blas_threads() <= {1}
        x = np.arange(12.0).reshape(3, 4)
        np.testing.assert_array_equal(x @ x.T, np.array([[14.0, 38.0, 62.0], [38.0, 126.0, 214.0], [62.0, 214.0, 366.0]]))
    assert _blas_threads() == before
    with serial_blas(SERIAL_FLOPS):  # at the bound and above: untouched
        assert _blas_threads() == before
