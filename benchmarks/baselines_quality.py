"""Quality table of the classic set baselines (dense top-k, MMR, DPP) on a catalog's test
queries: every set reward, metric and offline-judge score.

    python benchmarks/baselines_quality.py -c configs/music.yaml
    python benchmarks/baselines_quality.py -c configs/fashion.yaml --role-attribute category
"""

from __future__ import annotations

import argparse
import json
import time

from r4t.bench.hardware import describe_hardware
from r4t.bench.set_quality import SetEvaluator, dense_recall_at, format_table
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.retrievers import retrievers

DEFAULT = ["dense_topk", '{"name": "mmr", "lambda_": 0.5}', '{"name": "dpp", "alpha": 3.0}']
OPEN_COLUMNS = ["vendi_diversity", "intra_list_diversity", "coverage", "complementarity", "alignment", "coherence",
                "judge_diversity", "judge_alignment", "distinct_items_ratio"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--retrievers", nargs="+", default=DEFAULT, help="registry names or JSON specs")
    p.add_argument("--role_attribute", "--role-attribute", default="facet", help="attribute giving items' roles for complementarity")
    args = p.parse_args()

    data = prepare_data(DataConfig.from_mapping(load_config(args.config)), quiet=True)
    ev = SetEvaluator(data, role_attribute=args.role_attribute)
    print(f"# {data.catalog.name}: {len(data.catalog)} items, k={args.k}, split={args.split}")
    print(f"# hardware: {describe_hardware()}\n")
    for kind, columns in (("open", OPEN_COLUMNS), ("compositional", None)):
        queries = data.catalog.queries_for(split=args.split, kind=kind)
        if not queries:
            continue
        reports = []
        for raw in args.retrievers:
            spec = json.loads(raw) if raw.lstrip().startswith("{") else raw
            name = raw if isinstance(spec, str) else ",".join(f"{k}={v}" for k, v in spec.items())
            t0 = time.perf_counter()
            reports.append(ev.evaluate(retrievers.build(spec, data=data), queries, args.k, name))
            print(f"[{kind}] {name}: {len(queries)} queries in {time.perf_counter() - t0:.1f}s", flush=True)
        cols = columns or [f"recall@{args.k}", f"hit@{args.k}", "vendi_diversity", "alignment", "judge_alignment"]
        print(f"\n## {kind} queries ({len(queries)})\n")
        print(format_table(reports, [c for c in cols if any(c in r.values for r in reports)]))
        if kind == "compositional":
            extra = dense_recall_at(data, queries, 5000)
            print(f"\nNo fan-out (dense top-5000) for reference: {', '.join(f'{k} {v:.3f}' for k, v in extra.items())}")
        print()


if __name__ == "__main__":
    main()
