"""When faiss's exhaustive (Flat) search switches from its SIMD scan to BLAS.

faiss 1.14+ uses BLAS only when ``nq * d >= distance_compute_blas_threshold`` (default
128,000), a crossover measured on machines with 80+ OpenMP threads (faiss PR #5022). With
few threads BLAS wins far earlier: faiss PR #5109 measured the crossover at about 800 per
thread. On the 2-core reference machine 80 queries of d = 384 against 24k items took 64 ms
on the scan and 10 ms on BLAS, which is every set-diffusion retrieval at batch 8 (8 sets x
10 rows). We apply #5109's thread-aware rule once per process, before the first search.

Older faiss compares the threshold with ``nq`` alone (default 20); it is then left as is.
``R4T_FAISS_BLAS_THRESHOLD`` sets the value explicitly (faiss's units for the installed
version).
"""

from __future__ import annotations

import os

import faiss

from r4t.errors import ConfigError

NQ_TIMES_D_DEFAULT = 128_000  # faiss's default since the nq * d rule (PR #5022)
PER_THREAD = 800  # faiss PR #5109's crossover per OpenMP thread
ENV = "R4T_FAISS_BLAS_THRESHOLD"


def tune_blas_threshold() -> int:
    """Set faiss's BLAS threshold for this process's thread count; returns the value in use.

    Idempotent: once set (by us or by the user) the value is no longer faiss's default and
    is kept.
    """
    override = os.environ.get(ENV)
    if override is not None:
        try:
            value = int(override)
        except ValueError:
            raise ConfigError(f"{ENV} must be an integer, got {override!r}") from None
        faiss.cvar.distance_compute_blas_threshold = value
        return value
    current = int(faiss.cvar.distance_compute_blas_threshold)
    if current != NQ_TIMES_D_DEFAULT:
        return current
    value = PER_THREAD * max(1, faiss.omp_get_max_threads())
    faiss.cvar.distance_compute_blas_threshold = value
    return value
