"""Time of DPP fast greedy MAP (incremental Cholesky) vs pool size M and set size k.

    python benchmarks/dpp_scaling.py

Expected O(k^2 * M): time grows linearly in M at fixed k and quadratically in k.
"""

from __future__ import annotations

import time

import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.retrievers.dpp import greedy_map


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"# hardware: {describe_hardware()}")
    print("# kernel L = (r*x)(r*x)^T precomputed; time is greedy_map only, best of 5 runs, in ms\n")
    ks, ms = (10, 20, 40, 80), (250, 500, 1000, 2000, 4000)
    print("| M \\ k | " + " | ".join(map(str, ks)) + " |")
    print("|---" * (len(ks) + 1) + "|")
    for m in ms:
        x = rng.standard_normal((m, 128))
        kernel = x @ x.T
        cells = [f"{1000 * best_of(lambda kernel=kernel, k=k: greedy_map(kernel, k)):.2f}" for k in ks]
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
