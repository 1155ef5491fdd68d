"""Where faiss's exhaustive search should switch from its SIMD scan to BLAS on this machine.

    python benchmarks/faiss_blas_crossover.py [--items 24000] [--dim 384]

Times IndexFlatIP.search(k=10) for growing query batches with each path forced, and shows
the threshold r4t sets (r4t.catalog.faiss_threads). Prints Markdown headed by the machine.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.catalog.faiss_threads import NQ_TIMES_D_DEFAULT, PER_THREAD


def _median_ms(index: faiss.Index, queries: np.ndarray, repeats: int) -> float:
    index.search(queries, 10)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        index.search(queries, 10)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=24_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 80, 160])
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    items = rng.standard_normal((args.items, args.dim)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(args.dim)
    index.add(items)
    threads = faiss.omp_get_max_threads()
    saved = faiss.cvar.distance_compute_blas_threshold
    print(f"# faiss {faiss.__version__} IndexFlatIP, {args.items} x {args.dim}, k = 10, {threads} OpenMP threads")
    print(f"# hardware: {describe_hardware()}")
    print(f"# faiss default: BLAS when nq*d >= {NQ_TIMES_D_DEFAULT}; r4t: BLAS when nq*d >= {PER_THREAD} x {threads} threads\n")
    print("| queries | nq*d | scan ms | BLAS ms | faiss default picks | r4t picks |")
    print("|---|---|---|---|---|---|")
    try:
        for nq in args.batches:
            q = rng.standard_normal((nq, args.dim)).astype(np.float32)
            faiss.cvar.distance_compute_blas_threshold = 2**31 - 1
            scan = _median_ms(index, q, args.repeats)
            faiss.cvar.distance_compute_blas_threshold = 1
            blas = _median_ms(index, q, args.repeats)
            work = nq * args.dim
            pick = lambda threshold, work=work: "BLAS" if work >= threshold else "scan"  # noqa: E731
            print(f"| {nq} | {work} | {scan:.2f} | {blas:.2f} | {pick(NQ_TIMES_D_DEFAULT)} | {pick(PER_THREAD * threads)} |", flush=True)
    finally:
        faiss.cvar.distance_compute_blas_threshold = saved


if __name__ == "__main__":
    main()
