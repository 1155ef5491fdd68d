"""Fan-out latency vs catalog size (10k -> 1M items) with the hashing embedder.

    python benchmarks/catalog_size_sweep.py --items 10000 100000 1000000

For each size: build the generated music catalog with that many items (hashing
embeddings, so no model is needed), a faiss index (Flat by default; pass e.g.
--factory HNSW32), then time batch-8 retrieval of dense top-k, MMR, DPP and a
CPU-sized set-diffusion denoiser with random weights (search cost depends on the catalog,
sampling cost does not; the diffusion row is labelled latency only). Prints build times
and p50/p95 per method, headed by the machine it ran on.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from r4t.bench.hardware import describe_hardware
from r4t.bench.latency import LatencyProtocol, batch_of, measure_batch
from r4t.data.prepare import DataConfig, prepare_data
from r4t.retrievers import retrievers

SMALL_DENOISER = {"name": "latency_only_diffusion", "backbone": {"name": "coherent_transformer", "depth": 3, "width": 256, "mlp": 512, "heads": 4},
                  "sampler": {"name": "heun", "steps": 32}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--factory", default="Flat")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--run_dir", "--run-dir", default=None, help="cache folder (default: a temporary one)")
    args = p.parse_args()
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="r4t-size-sweep-")
    print(f"# hardware: {describe_hardware()}; index {args.factory}, hashing embedder d={args.dim}, batch {args.batch}\n")
    print("| items | build s (catalog+embed+index) | method | p50 s | p95 s | search share |")
    print("|---|---|---|---|---|---|")
    for n in args.items:
        t0 = time.perf_counter()
        data = prepare_data(DataConfig(catalog={"name": "music", "size": "small", "items": n}, embedder={"name": "hashing", "dim": args.dim},
                                       index={"factory": args.factory, "metric": "ip"}, run_dir=run_dir), quiet=True)
        build = time.perf_counter() - t0
        texts = batch_of([q.text for q in data.catalog.queries_for(split="test")], args.batch)
        for spec in ["dense_topk", {"name": "mmr", "lambda_": 0.5}, {"name": "dpp", "alpha": 3.0}, SMALL_DENOISER]:
            r = retrievers.build(spec, data=data)
            lat = measure_batch(r, texts, LatencyProtocol(warmup=1, repeats=10, min_repeats=3, budget_s=30.0))
            name = spec if isinstance(spec, str) else spec["name"]
            if name == "latency_only_diffusion":
                name += " (CPU-size, random weights)"
            share = lat.breakdown_s.get("search", 0.0) / lat.mean_s
            print(f"| {n:,} | {build:.1f} | {name} | {lat.p50_s:.4f} | {lat.p95_s:.4f} | {share:.0%} |", flush=True)


if __name__ == "__main__":
    main()
