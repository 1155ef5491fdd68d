"""Which reward predicts the judge? Within-query rank correlation of every candidate reward
signal with the judge, over a policy's own sampled fan-outs, on **val** queries.

    python benchmarks/reward_vs_judge.py -c configs/music.yaml                 # the warm-start policy
    python benchmarks/reward_vs_judge.py -c configs/music.yaml --policy runs/music/cache/rl/<hash>/final
    python benchmarks/reward_vs_judge.py -c configs/fashion-filtered.yaml --samples 16 --anchor 0.5   # as synthesis serves

GRPO only sees differences *within* a group of samples for one query, so what matters is
whether, among one query's fan-outs, the sample with the higher reward is also the one the
judge prefers. For each val query the policy writes ``--samples`` fan-outs; each parsed one is
grounded twice: as the trainer does (each sub-query's top-1 item: the training composite and
its terms) and as the retriever serves it (the k distinct items ``fanout_lm`` returns: Vendi,
alignment, coverage, complementarity, coherence and log-det diversity of the served set, DPP's
MAP objective ``alignment + logdet / (2 alpha)`` for each ``--dpp_alphas``, and the judge). The
table gives, per signal, the mean over queries of its Spearman correlation with judge mean /
diversity / alignment, with a 95% interval from a bootstrap over intents. The judge reads
query intents a user does not have when serving, so it stays the measure, never a reward;
the table is for choosing reward terms and weights (on val), not for training on the judge.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from r4t.bench.hardware import describe_hardware
from r4t.bench.set_quality import SetEvaluator, intent_cluster
from r4t.bench.stats import bootstrap_ci
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.fanout.grounding import FanoutGrounder, anchored
from r4t.fanout.policy import load_policy
from r4t.fanout.stage import rl_reward, section_config, warm_start_dir
from r4t.rewards import functional as F
from r4t.stage_configs import PolicyConfig, RLConfig

JUDGE = ("judge_mean", "judge_diversity", "judge_alignment")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (average ranks for ties); NaN when either side is constant."""
    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # average the ranks of ties
            r[x == v] = r[x == v].mean()
        return r

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--policy", help="saved policy folder (default: this config's warm-start policy)")
    p.add_argument("--split", default="val", choices=["train", "val"], help="never test: this study chooses rewards")
    p.add_argument("--samples", type=int, default=8, help="fan-outs per query (a GRPO group)")
    p.add_argument("--queries", type=int, default=None, help="cap the number of queries")
    p.add_argument("--temperature", type=float, default=0.9)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--anchor", type=float, default=0.0, help="serve from between each sub-query and the query (synth.anchor)")
    p.add_argument("--dpp_alphas", type=float, nargs="*", default=[1.0, 3.0, 10.0],
                   help="alphas of the DPP-objective signals alignment + logdet / (2 alpha)")
    args = p.parse_args()

    cfg = load_config(args.config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    policy_cfg, rl_cfg = section_config(PolicyConfig, cfg.get("policy"), "policy"), section_config(RLConfig, cfg.get("rl"), "rl")
    path = Path(args.policy) if args.policy else warm_start_dir(data, policy_cfg, Path(cfg.get("run_dir", "runs/default")) / "cache")
    policy = load_policy(str(path), policy_cfg.prompt_style, data.catalog.domain, policy_cfg.subqueries)
    policy.generation.temperature = args.temperature
    reward = rl_reward(cfg.get("reward"), rl_cfg)
    grounder = FanoutGrounder(data, max_subqueries=policy_cfg.subqueries)
    evaluator = SetEvaluator(data, role_attribute="category" if data.catalog.domain == "fashion" else "facet")
    queries = [q for q in data.catalog.queries_for(args.split, "open") if q.intent][: args.queries]

    per_signal: dict[str, list[list[float]]] = defaultdict(lambda: [[] for _ in JUDGE])
    clusters: list[str] = []
    parsed_total = 0
    for qi, q in enumerate(queries):
        completions = policy.sample([q.text], args.samples, seed=1000 + qi)[0]
        grounded = grounder.ground(completions, [q.text] * len(completions), [q.qid] * len(completions))
        rows: list[dict[str, float]] = []
        for g in grounded:
            if g is None:
                continue
            out = reward(g.batch)
            row = {f"train/{name}": float(v.reshape(-1)[0]) for name, v in out.terms.items()}
            row["train/composite"] = float(out.total.reshape(-1)[0])
            q_emb = data.query_emb[grounder.query(q.qid)[0]]
            served = data.item_index.search_distinct(anchored(g.batch.subquery_emb[0].numpy(), q_emb, args.anchor), args.k)
            row.update({f"served/{k}": v for k, v in evaluator.per_query(q, served).items()})
            row["served/logdet_diversity"] = F.log_det_diversity(torch.from_numpy(data.item_emb[served])).item()
            for alpha in args.dpp_alphas:
                row[f"served/dpp_objective(alpha={alpha:g})"] = row["served/alignment"] + row["served/logdet_diversity"] / (2 * alpha)
            row["served/distinct_top1_share"] = len(set(g.top1)) / len(g.top1)
            rows.append(row)
        parsed_total += len(rows)
        if len(rows) < 3:
            continue
        clusters.append(intent_cluster(q))
        for name in rows[0]:
            if name.startswith("served/judge"):
                continue
            for j, judge in enumerate(JUDGE):
                per_signal[name][j].append(spearman(np.array([r[name] for r in rows]), np.array([r[f"served/{judge}"] for r in rows])))

    print(f"# {data.catalog.name}: {len(clusters)} {args.split} open queries with >= 3 parsed fan-outs "
          f"({len(set(clusters))} intents), {args.samples} samples each at temperature {args.temperature}; "
          f"{parsed_total} of {len(queries) * args.samples} fan-outs parsed; served from anchor {args.anchor}")
    print(f"# policy {path}; training reward = the config's {'WSCR reference recall' if rl_cfg.regime == 'wscr' else 'reward section'}")
    print(f"# hardware: {describe_hardware()}")
    print("# cell: mean over queries of the within-query Spearman correlation [95% CI, bootstrap over intents]; "
          "queries where the signal or the judge is constant are left out\n")
    print("| signal | vs judge mean | vs judge diversity | vs judge alignment | queries |")
    print("|---|---|---|---|---|")
    for name in sorted(per_signal, key=lambda n: -np.nanmean(per_signal[n][0]) if np.isfinite(per_signal[n][0]).any() else 0):
        cells, used = [], 0
        for values in per_signal[name]:
            v = np.array(values)
            ok = np.isfinite(v)
            used = max(used, int(ok.sum()))
            if ok.sum() < 2:
                cells.append("n/a")
                continue
            est = bootstrap_ci(v[ok], clusters=[c for c, keep in zip(clusters, ok) if keep])
            cells.append(f"{est.mean:+.2f} [{est.lo:+.2f}, {est.hi:+.2f}]")
        print(f"| {name} | {' | '.join(cells)} | {used} |")


if __name__ == "__main__":
    main()
