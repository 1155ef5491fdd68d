"""Where a diffusion retriever's rows land before grounding, beside the judge of its sets (val only).

For each spec: how many distinct nearest items the set_size rows have, their mean distance to the
query and to each other, then the judge of the grounded sets. A model whose rows sit nearer the
query than any item, on a few distinct items, returns dense top-k's neighbourhood whatever it
learned (benchmarks/results/candidate_conditioning.md, section D).

    python benchmarks/row_geometry.py -c configs/fashion-filtered.yaml \\
        --checkpoint runs/fashion/diffusion/checkpoints/ID/last.ckpt \\
        --variant '{"sampler": {"name": "dpmpp_2m", "steps": 4}}' --variant '{"sampler": {"name": "dpmpp_2m", "steps": 16}}'
"""

from __future__ import annotations

import argparse

import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.bench.set_quality import open_query_study
from r4t.cli import json_spec
from r4t.errors import ConfigError
from r4t.retrievers import retrievers


def mean_pairwise_distance(rows: np.ndarray) -> float:
    """[B, L, d] -> mean distance between two different rows of one set."""
    length = rows.shape[1]
    distances = np.linalg.norm(rows[:, :, None] - rows[:, None], axis=-1)
    return float(distances.sum(axis=(1, 2)).mean() / (length * (length - 1)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--retriever", default="r4t_diffusion", choices=["r4t_diffusion", "raw_diffusion"])
    p.add_argument("--variant", action="append", required=True, metavar="JSON", help="retriever arguments besides the checkpoint")
    p.add_argument("--split", default="val", choices=["train", "val"], help="never test: this is for tuning")
    p.add_argument("-k", type=int, default=10)
    args = p.parse_args()
    study = open_query_study(args.config, args.split)
    data, evaluator, queries = study.data, study.evaluator, study.queries
    query_emb = data.embedder.encode([q.text for q in queries])
    print(f"# {data.catalog.name}: {len(queries)} {args.split} open queries; checkpoint {args.checkpoint}; hardware: {describe_hardware()}")
    print("| variant | distinct nearest items of the rows | row-query distance | row spread | judge_mean | judge_diversity | judge_alignment |")
    print("|---|---|---|---|---|---|---|")
    for variant in args.variant:
        extra = json_spec(variant, "--variant")
        if not isinstance(extra, dict):
            raise ConfigError(f"--variant {variant!r}: expected a JSON object of retriever arguments")
        retriever = retrievers.build({"name": args.retriever, "checkpoint": args.checkpoint, **extra}, data=data)
        rows = retriever.generate(query_emb)
        nearest = data.item_index.search(rows.reshape(-1, rows.shape[-1]), 1)[1].reshape(len(rows), -1)
        report = evaluator.score(evaluator.retrieve_sets(retriever, queries, args.k), queries, args.k, variant)
        judge = [np.nanmean(np.asarray(report.per_query[m], dtype=float)) for m in ("judge_mean", "judge_diversity", "judge_alignment")]
        print(f"| {variant} | {np.mean([len(set(r)) for r in nearest]):.1f} | {np.linalg.norm(rows - query_emb[:, None], axis=-1).mean():.3f} | "
              f"{mean_pairwise_distance(rows):.3f} | {judge[0]:.1f} | {judge[1]:.1f} | {judge[2]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
