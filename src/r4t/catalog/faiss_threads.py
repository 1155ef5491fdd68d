"""How faiss uses threads on small machines: its BLAS crossover and serial small searches.

**BLAS crossover.** When faiss's exhaustive (Flat) search switches from its SIMD scan to BLAS.

faiss 1.14+ uses BLAS only when ``nq * d >= distance_compute_blas_threshold`` (default
128,000), a crossover measured on machines with 80+ OpenMP threads (faiss PR #5022). With
few threads BLAS wins far earlier: faiss PR #5109 measured the crossover at about 800 per
thread. On the 2-core reference machine 80 queries of d = 384 against 24k items took 64 ms
on the scan and 10 ms on BLAS, which is every set-diffusion retrieval at batch 8 (8 sets x
10 rows). We apply #5109's thread-aware rule once per process, before the first search.

Older faiss compares the threshold with ``nq`` alone (default 20); it is then left as is.
``R4T_FAISS_BLAS_THRESHOLD`` sets the value explicitly (faiss's units for the installed
version).

**Serial small searches.** The faiss and torch wheels each bundle their own OpenMP runtime
(two libgomp copies in one process). After a parallel region each runtime's idle workers
spin-wait, and with few cores one runtime's spinning takes the cores the other needs: on
the 2-core reference machine a batch-8 dense top-k retrieval took 39 ms (MiniLM encode 28,
search 14) with faiss on 2 threads and 20 ms (16 + 4) with faiss on 1. So a search whose
work ``nq * ntotal * d`` is below ``SERIAL_WORK`` (about 25 ms on one core there; every
serving-size batch on a catalog of tens of thousands of items) runs on one thread, and
larger ones keep every thread. ``R4T_FAISS_SERIAL_WORK`` sets the bound (0: never serial).
The thread count is process-wide in faiss, so concurrent searches from several Python
threads may see each other's setting; results are the same either way.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import faiss

from r4t.errors import ConfigError

NQ_TIMES_D_DEFAULT = 128_000  # faiss's default since the nq * d rule (PR #5022)
PER_THREAD = 800  # faiss PR #5109's crossover per OpenMP thread
ENV = "R4T_FAISS_BLAS_THRESHOLD"
SERIAL_WORK = 1.2e9  # nq * ntotal * d: ~25 ms of exhaustive search on one 2.6 GHz core
SERIAL_ENV = "R4T_FAISS_SERIAL_WORK"


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


def serial_work_bound() -> float:
    """``SERIAL_WORK``, or the ``R4T_FAISS_SERIAL_WORK`` override."""
    override = os.environ.get(SERIAL_ENV)
    if override is None:
        return SERIAL_WORK
    try:
        return float(override)
    except ValueError:
        raise ConfigError(f"{SERIAL_ENV} must be a number, got {override!r}") from None


@contextmanager
def threads_for_search(nq: int, ntotal: int, d: int) -> Iterator[int]:
    """Run the enclosed faiss search on one thread when its work is small (see the module
    docstring); yields the thread count in effect and restores faiss's setting after."""
    before = faiss.omp_get_max_threads()
    if before <= 1 or nq * ntotal * d >= serial_work_bound():
        yield before
        return
    faiss.omp_set_num_threads(1)
    try:
        yield 1
    finally:
        faiss.omp_set_num_threads(before)
