"""Evaluate saved fan-out policies on held-out queries with the full OAR composite
(groundedness, Vendi diversity, alignment), e.g. to compare the paper's reward ablation.

    python benchmarks/rl_ablation.py -c configs/music.yaml --policy warm-start=PATH --policy all-three=PATH ...
"""

from __future__ import annotations

import argparse

import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.fanout.grounding import FanoutGrounder
from r4t.fanout.parsing import parse_subqueries
from r4t.fanout.policy import load_policy
from r4t.fanout.stage import evaluate_policy
from r4t.rewards import build_reward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--policy", action="append", required=True, help="NAME=PATH of a saved policy folder")
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--target_size", "--target-size", type=int, default=10, help="vendi_diversity target_size (0: the (VS-1)/(n-1) form)")
    args = p.parse_args()
    cfg = load_config(args.config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    vendi = {"weight": 0.2, "target_size": args.target_size} if args.target_size else 0.2
    reward = build_reward({"components": {"groundedness": 0.6, "vendi_diversity": vendi, "alignment": 0.2}})  # all three terms
    grounder = FanoutGrounder(data)
    queries = data.catalog.queries_for("val", "open")[: args.queries]
    print(f"# {data.catalog.name}, {len(queries)} val queries, reward = 0.6 ground + 0.2 vendi (target_size {args.target_size or 'n'}) + 0.2 align; hardware: {describe_hardware()}\n")
    print("| policy | composite | groundedness | vendi_diversity | alignment | parse failures | mean #sub-queries | distinct sub-queries / all |")
    print("|---|---|---|---|---|---|---|---|")
    for entry in args.policy:
        name, path = entry.split("=", 1)
        policy = load_policy(path, domain=data.catalog.domain)
        ev = evaluate_policy(policy, grounder, reward, queries, seed=0)
        subs = [parse_subqueries(c[0]) for c in policy.sample([q.text for q in queries], 1, seed=0)]
        ok = [s for s in subs if s]
        flat = [x for s in ok for x in s]
        print(f"| {name} | {ev['reward']:.3f} | {ev['groundedness']:.3f} | {ev['vendi_diversity']:.3f} | {ev['alignment']:.3f} | "
              f"{ev['parse_failure_rate']:.1%} | {np.mean([len(s) for s in ok]) if ok else 0:.1f} | {len(set(flat)) / max(len(flat), 1):.2f} |")


if __name__ == "__main__":
    main()
