"""Does the compiled model reproduce the sets it was trained on? Score retrievers against the
teacher's own shard sets, on the *training* queries those shards were synthesized for.

For each training query with shard samples (the teacher's fan-outs, grounded), a retriever's
set is compared with the teacher's samples of that query:

* ``teacher_hit``: the share of the returned items that appear in any teacher sample of the
  query (1.0: every item is one the teacher would have returned);
* ``best_overlap``: the largest share of one teacher sample that the set contains;
* the judge's mean on these queries.

The teacher row holds out one sample per query and scores it against the others: the
ceiling of imitation (the teacher is stochastic). A model that learned its training
distribution scores near that row; one that learned only the query scores what dense
top-k scores. Training queries are used here because this is a check of fitting, not a
result; the judge reads intents because this is analysis, never a reward.

    python benchmarks/diffusion_fit_check.py -c configs/music.yaml --shards runs/music/cache/shards/5ae500254fd8 \\
        --retriever 'model={"name": "r4t_diffusion", "checkpoint": "runs/music/diffusion/checkpoints/1129337e3968/last.ckpt"}' \\
        --retriever dense=dense_topk
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.bench.set_quality import retrieve_in_batches
from r4t.bench.stats import bootstrap_ci
from r4t.catalog.catalog import Query
from r4t.cli import json_spec
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.errors import ConfigError
from r4t.metrics.judge import AttributeJudge
from r4t.retrievers import retrievers
from r4t.synth.shards import read_shards


def teacher_sets(shards: Path) -> dict[str, list[list[int]]]:
    """qid -> the teacher's grounded item sets for it, read from a shard folder's metadata."""
    files = sorted(str(p) for p in shards.glob("shard-*.tar"))
    if not files:
        raise ConfigError(f"{shards}: no shard-*.tar files")
    by_query: dict[str, list[list[int]]] = defaultdict(list)
    for sample in read_shards(files):
        by_query[sample["meta"]["qid"]].append([int(i) for i in sample["meta"]["items"]])
    return dict(by_query)


def overlap_scores(found: Sequence[int], samples: Sequence[Sequence[int]]) -> tuple[float, float]:
    """(teacher_hit, best_overlap) of one set against a query's teacher samples."""
    support = {i for s in samples for i in s}
    hit = sum(i in support for i in found) / max(len(found), 1)
    best = max((len(set(found) & set(s)) / max(len(set(s)), 1) for s in samples), default=0.0)
    return hit, best


def rows_for(queries: Sequence[Query], found: Sequence[Sequence[int]], samples: dict[str, list[list[int]]],
             judge: AttributeJudge) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = defaultdict(list)
    for q, s in zip(queries, found):
        hit, best = overlap_scores(s, samples[q.qid])
        score = judge.score(q, list(s)).percent()
        assert score["alignment"] is not None and score["diversity"] is not None
        out["teacher_hit"].append(hit)
        out["best_overlap"].append(best)
        out["judge_mean"].append((score["alignment"] + score["diversity"]) / 2)
    return {k: np.array(v) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--shards", required=True, type=Path, help="the shard folder the checkpoint was trained on")
    p.add_argument("--retriever", action="append", required=True, metavar="NAME=SPEC")
    p.add_argument("--max_queries", "--max-queries", type=int, default=120)
    p.add_argument("-k", type=int, default=10)
    args = p.parse_args()
    data = prepare_data(DataConfig.from_mapping(load_config(args.config)), quiet=True)
    cat = data.catalog
    samples = teacher_sets(args.shards)
    queries = [q for q in cat.queries_for("train", "open") if len(samples.get(q.qid, ())) >= 2][: args.max_queries]
    if not queries:
        raise ConfigError(f"{args.shards}: no training query has two or more shard samples")
    row = {q.qid: n for n, q in enumerate(cat.queries)}
    judge = AttributeJudge(cat)
    intents = [repr(sorted(q.intent.items())) for q in queries]
    results: dict[str, dict[str, np.ndarray]] = {}
    rng = random.Random(0)
    held, rest = [], {}
    for q in queries:  # the teacher's ceiling: one held-out sample against the others
        s = list(samples[q.qid])
        held.append(s.pop(rng.randrange(len(s))))
        rest[q.qid] = s
    results["teacher (one held-out sample)"] = rows_for(queries, held, rest, judge)
    for entry in args.retriever:
        name, sep, spec = entry.partition("=")
        if not sep:
            raise ConfigError(f"--retriever {entry!r}: expected NAME=SPEC")
        retriever = retrievers.build(json_spec(spec, "--retriever"), data=data)
        found = retrieve_in_batches(retriever, data, [row[q.qid] for q in queries], args.k)
        results[name] = rows_for(queries, found, samples, judge)
    n_samples = int(np.mean([len(samples[q.qid]) for q in queries]))
    print(f"# {cat.name}: {len(queries)} train open queries ({len(set(intents))} intents), ~{n_samples} teacher samples each "
          f"from {args.shards}; hardware: {describe_hardware()}")
    print("# mean [95% CI, bootstrap over intents]\n")
    print("| retriever | teacher_hit | best_overlap | judge_mean |")
    print("|---|---|---|---|")
    for name, cols in results.items():
        cells = []
        for key in ("teacher_hit", "best_overlap", "judge_mean"):
            v = cols[key]
            est = bootstrap_ci(v, clusters=intents)
            scale = 100.0 if key != "judge_mean" else 1.0
            cells.append(f"{est.mean * scale:.1f} [{est.lo * scale:.1f}, {est.hi * scale:.1f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
