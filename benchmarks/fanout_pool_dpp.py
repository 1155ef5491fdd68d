"""Do a model's search directions find candidates that DPP over dense top-N does not? (**val** queries)

    python benchmarks/fanout_pool_dpp.py -c configs/fashion-filtered.yaml --policy runs/fashion/cache/policy/<hash> \\
        --depths 5 10 20 --alphas 3 5
    python benchmarks/fanout_pool_dpp.py -c configs/music.yaml --depths 20 --alphas 5 \\
        --source 'r4t={"name": "r4t_diffusion", "checkpoint": "runs/music/diffusion/checkpoints/<id>/last.ckpt"}' \\
        --source 'jitter={"name": "query_jitter", "scale": 2.0}'

Reward-filtered synthesis can only hand the diffusion model sets built from what the teacher
proposes. This bounds that: for each val query the policy writes one constrained fan-out, each
sub-query is searched from between it and the query (``--anchor``, as synthesis does), the union
of every direction's top-``depth`` items is the pool, and DPP greedy MAP (quality exp(alpha
cos(item, query)), as the ``dpp`` retriever) selects k: ``synth.target: served_dpp``'s targets. If that set is no better by the judge
than ``dpp`` over the dense top-100, no selection rule over this teacher's candidates that sees
only embeddings can beat DPP either. Rows are paired against ``dpp`` (alpha ``--dpp_alpha``),
intent-clustered.

``--source LABEL=SPEC`` pools the directions of any retriever that writes them (``r4t_diffusion``'s
generated rows, ``query_jitter``'s noisy copies of the query) the same way: a compiled model's
pool against the no-learning control's pool says whether what it learned finds better
candidates (the ``select`` option of the diffusion retrievers serves exactly this).
"""

from __future__ import annotations

import argparse

import numpy as np

from r4t.bench.comparisons import paired_scores
from r4t.bench.hardware import describe_hardware
from r4t.bench.set_quality import QualityReport, open_query_study
from r4t.bench.stats import bootstrap_ci, paired_permutation_test
from r4t.cli import json_spec
from r4t.errors import ConfigError
from r4t.fanout.grounding import pool_select
from r4t.retrievers import retrievers

METRICS = ("judge_mean", "judge_diversity", "judge_alignment")


def row(name: str, report: QualityReport, base: QualityReport | None) -> str:
    cells = []
    for metric in METRICS:
        values = np.asarray(report.per_query[metric], dtype=float)
        est = bootstrap_ci(values, clusters=report.clusters, seed=0)
        cell = f"{est.mean:.1f} [{est.lo:.1f}, {est.hi:.1f}]"
        if base is not None:
            a, b, clusters = paired_scores(report, base, metric)
            cell += f"; {np.mean(a - b):+.1f} (p = {paired_permutation_test(a, b, seed=0, clusters=clusters):.3f})"
        cells.append(cell)
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--policy", help="saved policy folder (the teacher); pooled as its constrained fan-out")
    p.add_argument("--source", action="append", default=[], metavar="LABEL=SPEC",
                   help="a retriever whose directions() to pool (registry name or JSON spec); repeatable")
    p.add_argument("--split", default="val", choices=["train", "val"], help="never test: this study is for choosing")
    p.add_argument("--anchor", type=float, default=0.5)
    p.add_argument("--depths", type=int, nargs="+", default=[5, 10, 20])
    p.add_argument("--alphas", type=float, nargs="+", default=[3.0, 5.0])
    p.add_argument("--dpp_alpha", type=float, default=3.0, help="the baseline row's alpha")
    p.add_argument("-k", type=int, default=10)
    args = p.parse_args()

    study = open_query_study(args.config, args.split)  # the config's composite (the paper's OAR weights without one)
    data, evaluator, queries = study.data, study.evaluator, study.queries
    row_of = {q.qid: i for i, q in enumerate(data.catalog.queries)}
    query_emb = data.query_emb[[row_of[q.qid] for q in queries]]
    sources = {}
    if args.policy:
        sources["teacher"] = retrievers.build({"name": "fanout_lm", "policy": args.policy, "subqueries": args.k,
                                               "fallback": "error", "anchor": args.anchor, "constrained": True}, data=data)
    for entry in args.source:
        label, sep, spec = entry.partition("=")
        if not sep:
            raise ConfigError(f"--source {entry!r}: expected LABEL=SPEC")
        sources[label] = retrievers.build(json_spec(spec, "--source"), data=data)
    if not sources:
        raise ConfigError("give --policy or at least one --source LABEL=SPEC whose directions to pool")
    texts = [q.text for q in queries]

    dpp = retrievers.build({"name": "dpp", "alpha": args.dpp_alpha}, data=data)
    base = evaluator.score(evaluator.retrieve_sets(dpp, queries, args.k), queries, args.k, "dpp")
    reports = {}
    for label, source in sources.items():
        directions: list[np.ndarray] = []
        for i in range(0, len(texts), 8):
            directions += source.directions(texts[i : i + 8], query_emb[i : i + 8])
        reports[f"{label}: own sets (distinct nearest item per direction)"] = evaluator.score(
            [data.item_index.search_distinct(np.atleast_2d(d), args.k) for d in directions], queries, args.k, label)
        for alpha in args.alphas:
            for depth in args.depths:
                sets = [pool_select(data, q, d, depth, alpha, args.k) for q, d in zip(query_emb, directions)]
                reports[f"{label}: pool (top-{depth} per direction), DPP alpha {alpha:g}"] = evaluator.score(sets, queries, args.k, label)

    print(f"# {data.catalog.name}: {len(queries)} {args.split} open queries ({base.intents} intents); teacher {args.policy} "
          f"(constrained, anchor {args.anchor}); sources {args.source}; hardware: {describe_hardware()}")
    print(f"# mean [95% CI, bootstrap over intents]; p: paired sign-flip test per intent against dpp (alpha {args.dpp_alpha:g}, dense top-100)\n")
    print("| set | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    print(row(f"dpp (alpha {args.dpp_alpha:g}, dense top-100)", base, None))
    for name, report in reports.items():
        print(row(name, report, base))


if __name__ == "__main__":
    main()
