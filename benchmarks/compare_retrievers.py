"""A/B of retrievers on **val** queries: each one's judge and composite means, and a paired,
intent-clustered sign-flip test of every retriever against the first.

    python benchmarks/compare_retrievers.py -c configs/music.yaml \\
        --retriever 'old={"name": "r4t_diffusion", "checkpoint": "runs/music/diffusion/checkpoints/A/last.ckpt"}' \\
        --retriever 'new={"name": "r4t_diffusion", "checkpoint": "runs/music/diffusion/checkpoints/B/last.ckpt"}' \\
        --retriever dense=dense_topk

For tuning a change before it reaches the benchmark's test records (the benchmark's own
paired tests only compare against the controls and classic baselines).
"""

from __future__ import annotations

import argparse

import numpy as np

from r4t.bench.comparisons import paired_scores
from r4t.bench.hardware import describe_hardware
from r4t.bench.set_quality import open_query_study
from r4t.bench.stats import bootstrap_ci, paired_permutation_test
from r4t.cli import json_spec
from r4t.errors import ConfigError
from r4t.retrievers import retrievers

METRICS = ("judge_mean", "judge_diversity", "judge_alignment", "reward/composite")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--retriever", action="append", required=True, metavar="NAME=SPEC", help="a label and a registry name or JSON spec")
    p.add_argument("--split", default="val", choices=["train", "val"], help="never test: this is for tuning")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if len(args.retriever) < 2:
        raise ConfigError("give at least two --retriever NAME=SPEC to compare")
    study = open_query_study(args.config, args.split)  # the config's composite (the paper's OAR weights without one)
    data, evaluator, queries = study.data, study.evaluator, study.queries
    reports = {}
    for entry in args.retriever:
        name, sep, spec = entry.partition("=")
        if not sep:
            raise ConfigError(f"--retriever {entry!r}: expected NAME=SPEC")
        retriever = retrievers.build(json_spec(spec, "--retriever"), data=data)
        reports[name] = evaluator.score(evaluator.retrieve_sets(retriever, queries, args.k), queries, args.k, name)
    first = next(iter(reports))
    print(f"# {data.catalog.name}: {len(queries)} {args.split} open queries ({reports[first].intents} intents); "
          f"hardware: {describe_hardware()}")
    print(f"# mean [95% CI, bootstrap over intents]; p: paired sign-flip test per intent against {first}\n")
    print("| retriever | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for name, report in reports.items():
        cells = []
        for metric in METRICS:
            values = np.asarray(report.per_query[metric], dtype=float)
            ok = np.isfinite(values)  # the judge needs an intent; a query without one has no judge score
            est = bootstrap_ci(values[ok], clusters=[c for c, keep in zip(report.clusters, ok) if keep], seed=args.seed)
            cell = f"{est.mean:.3f} [{est.lo:.3f}, {est.hi:.3f}]" if "composite" in metric else f"{est.mean:.1f} [{est.lo:.1f}, {est.hi:.1f}]"
            if name != first:
                a, b, clusters = paired_scores(report, reports[first], metric)
                delta = float(np.mean(a - b))
                cell += f"; {delta:+.3f}" if "composite" in metric else f"; {delta:+.1f}"
                cell += f" (p = {paired_permutation_test(a, b, seed=args.seed, clusters=clusters):.3f})"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
