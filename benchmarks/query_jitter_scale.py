"""Choose ``query_jitter``'s noise scale on the **val** queries: the judge (mean of judge
diversity and judge alignment), the composite proxy and Vendi per scale, open queries,
intervals resampling whole intents. The benchmark's control uses the scale with the best
val judge mean (``r4t.bench.runner.QUERY_JITTER_SCALE``); test queries are never read.

    python benchmarks/query_jitter_scale.py -c configs/music.yaml > benchmarks/results/query_jitter_scale_music.md
    python benchmarks/query_jitter_scale.py -c configs/fashion.yaml > benchmarks/results/query_jitter_scale_fashion.md
"""

from __future__ import annotations

import argparse
import shlex
import sys

from r4t.bench.hardware import describe_hardware
from r4t.bench.set_quality import SetEvaluator
from r4t.bench.stats import bootstrap_ci
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.retrievers import retrievers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--split", default="val", choices=["train", "val"], help="never test: the scale is tuned, not measured")
    p.add_argument("--scales", default="0,0.5,0.75,1.0,1.25,1.5,2.0")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--seeds", default="0,1,2", help="noise seeds averaged per scale")
    args = p.parse_args()

    cfg = load_config(args.config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    ev = SetEvaluator(data, reward=cfg.get("reward"))
    queries = data.catalog.queries_for(split=args.split, kind="open")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"# query_jitter scale on {data.catalog.name} ({args.split}, open queries)\n")
    print(f"`python benchmarks/query_jitter_scale.py {shlex.join(sys.argv[1:])}` on {describe_hardware()}.\n")
    print(f"{len(queries)} {args.split} queries; "
          f"seeds {seeds} (the mean of per-seed means); 95% intervals resample intents.\n")
    print("| scale | judge mean | judge div | judge align | composite (proxy) | Vendi |")
    print("|---|---|---|---|---|---|")
    best = None
    for scale in (float(x) for x in args.scales.split(",")):
        reps = [ev.evaluate(retrievers.build({"name": "query_jitter", "scale": scale, "seed": s}, data=data), queries, args.k, f"{scale}")
                for s in seeds]
        mean = {key: sum(r.per_query[key] for r in reps) / len(reps) for key in ("judge_mean", "judge_diversity", "judge_alignment",
                                                                                   "reward/composite", "vendi_diversity")}
        ci = bootstrap_ci(mean["judge_mean"], clusters=reps[0].clusters)
        cells = [f"{ci.mean:.1f} [{ci.lo:.1f}, {ci.hi:.1f}]"] + [f"{mean[k].mean():.1f}" for k in ("judge_diversity", "judge_alignment")]
        cells += [f"{mean[k].mean():.4f}" for k in ("reward/composite", "vendi_diversity")]
        print(f"| {scale:g} | " + " | ".join(cells) + " |", flush=True)
        if best is None or ci.mean > best[1]:
            best = (scale, ci.mean)
        intents = reps[0].intents
    print(f"\n{intents} intents. Best val judge mean: scale {best[0]:g} ({best[1]:.1f}).")


if __name__ == "__main__":
    main()
