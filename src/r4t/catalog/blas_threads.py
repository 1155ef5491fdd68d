"""numpy's BLAS threads for serving-size matrix products.

numpy's OpenBLAS keeps its own thread pool beside torch's and faiss's OpenMP runtimes. After
a torch call (the query encoder, a diffusion model) those runtimes' idle workers spin-wait,
and on a machine with few cores a multi-threaded OpenBLAS product then waits for cores the
spinners hold. Measured on the 2-core reference machine (AMD EPYC): a batch-8 rows_dpp
grounding after sampling took 44 ms, 24 ms with OpenBLAS on one thread; DPP's own batch-8
retrieval after the query encoder 48 ms, 28 ms (``benchmarks/results/rows_dpp.md``). Products
this small gain nothing from a second thread, so they run on one; large ones keep every thread.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

SERIAL_FLOPS = 5e7  # m * n * k of one product: ~10 ms on one core; a 100 x 384 x 100 DPP kernel is 3.8e6

_controller: Any = None


@contextmanager
def serial_blas(flops: float) -> Iterator[None]:
    """Run the enclosed numpy products on one BLAS thread when ``flops`` is below SERIAL_FLOPS
    (threadpoolctl; a no-op where it is not installed)."""
    global _controller
    if flops >= SERIAL_FLOPS:
        yield
        return
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency; plugins may vendor r4t without it
            _controller = False
        else:
            _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas") if _controller else nullcontext():
        yield
