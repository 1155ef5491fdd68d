"""Latency vs batch size for every retriever: `r4t benchmark --no-quality` over doubling
batch sizes, records written to registry/ like any benchmark.

    python benchmarks/latency_batch_sweep.py -c configs/music.yaml [--device cuda] [--max 1024]
"""

from __future__ import annotations

import argparse
import sys

from r4t.cli import main as r4t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--max", type=int, default=1024, help="largest batch size (sizes: 1, 8, 16, ..., max)")
    p.add_argument("--registry", default="registry")
    p.add_argument("--retrievers", nargs="*", help="as for r4t benchmark (default: every retriever the run dir has)")
    args, rest = p.parse_known_args()
    sizes = [1] + [b for b in (8 * 2**i for i in range(12)) if b <= args.max]
    argv = ["benchmark", "-c", args.config, "--no-quality", "--device", args.device, "--registry", args.registry,
            "--batch-sizes", ",".join(map(str, sizes)), *rest]
    if args.retrievers:
        argv += ["--retrievers", *args.retrievers]
    return r4t(argv)


if __name__ == "__main__":
    sys.exit(main())
