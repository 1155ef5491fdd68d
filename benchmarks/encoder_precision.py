"""Query-encoder precision and fast path: encoding time and how close the vectors stay.

    python benchmarks/encoder_precision.py -c configs/music.yaml

The query encoder is the floor under every retriever's latency (diffusion spends most of
its batch-8 fan-out there), so its precision matters for serving. For each precision this
times ``embedder.encode`` on the config's open test queries at several batch sizes (median
of repeated calls after warm-up) and, against the float32 vectors, reports the cosine of
each query's two embeddings and the overlap of its 10 nearest catalog items. Prints a
Markdown table headed by the machine it ran on.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.bench.latency import batch_of
from r4t.catalog.embedders import PRECISIONS, embedders, with_precision
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def top10_overlap(query: np.ndarray, reference: np.ndarray, items: np.ndarray) -> float:
    got, want = np.argsort(-(query @ items.T), axis=1)[:, :10], np.argsort(-(reference @ items.T), axis=1)[:, :10]
    return float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--batch_sizes", "--batch-sizes", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()

    cfg = load_config(args.config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    spec = cfg.get("embedder")
    texts = [q.text for q in data.catalog.queries_for(split="test", kind="open")]

    import torch

    print(f"# {data.catalog.name}: {len(texts)} open test queries, embedder {spec}")
    print(f"# hardware: {describe_hardware()}; torch {torch.__version__}, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}\n")
    sizes = " | ".join(f"encode s @ batch {b}" for b in args.batch_sizes)
    print(f"| precision | {sizes} | cosine to float32 (min / mean) | top-10 overlap with float32 |")
    print("|---|" + "---|" * len(args.batch_sizes) + "---|---|")
    reference = None
    # The plain float32 forward is the reference; the CPU fast path (r4t.inference) is the
    # float32 default on CPU; bf16-mixed runs the model's own forward under autocast.
    variants = [("32, plain forward", {"precision": "32", "fast_path": False}), ("32", {"precision": "32"})]
    variants += [(precision, {"precision": precision}) for precision in PRECISIONS if precision != "32"]
    for label, settings in variants:
        embedder = embedders.build({**with_precision(spec, settings["precision"]), **settings})
        vectors = embedder.encode(texts)
        reference = vectors if reference is None else reference
        cos = (vectors * reference).sum(axis=1)
        timings = " | ".join(f"{median_seconds(lambda embedder=embedder, b=b: embedder.encode(batch_of(texts, b)), args.repeats):.4f}" for b in args.batch_sizes)
        print(f"| {label} | {timings} | {cos.min():.6f} / {cos.mean():.6f} | "
              f"{top10_overlap(vectors, reference, data.item_emb):.4f} |", flush=True)


if __name__ == "__main__":
    main()
