"""Fan-outs per second by prompts per generate() call (``synth.generation_batch``), per policy.

    python benchmarks/generation_batch.py -c configs/music.yaml --policy runs/music/cache/rl/HASH/final --policy gemma3-270m

Synthesis decodes ``samples_per_query`` fan-outs per query; by default one query's fan-outs
make one generate() call. ``synth.generation_batch`` packs several queries' fan-outs into
one call. This times ``FanoutPolicy.sample`` on the same val queries (never test) at each
prompts-per-call value, in interleaved rounds, and prints fan-outs/s, decoded tokens/s and
the speed-up over the first value, with the machine named. ``gemma3-270m`` is the
pretrained Gemma 3 270M (the ``[gemma]`` extra) with the instruction prompt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from r4t.bench.hardware import describe_hardware
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.fanout.policy import GenerationSettings, load_policy
from r4t.sections import checked_section
from r4t.stage_configs import PolicyConfig


def build(name: str, cfg: dict, domain: str, subqueries: int, max_new_tokens: int):
    if name == "gemma3-270m":
        from r4t.fanout.gemma import gemma3_model_dir

        folder = gemma3_model_dir(Path(cfg.get("run_dir", "runs/default")) / "cache")
        return load_policy(str(folder), prompt_style="instruction", domain=domain, subqueries=subqueries,
                           generation=GenerationSettings(max_new_tokens=max_new_tokens))
    return load_policy(name, domain=domain, subqueries=subqueries, generation=GenerationSettings(max_new_tokens=max_new_tokens))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--policy", action="append", required=True, help="a policy folder, or gemma3-270m")
    p.add_argument("--queries", type=int, default=8)
    p.add_argument("--samples", type=int, default=16, help="fan-outs per query (synth.samples_per_query)")
    p.add_argument("--prompts_per_call", "--prompts-per-call", type=int, nargs="+", default=[16, 64])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--max_new_tokens", "--max-new-tokens", type=int, default=160)
    args = p.parse_args()
    cfg = load_config(args.config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    subqueries = checked_section(PolicyConfig, cfg.get("policy"), "policy").subqueries
    texts = [q.text for q in data.catalog.queries_for("val", "open")[: args.queries]]
    print(f"# {data.catalog.name}: {len(texts)} val queries x {args.samples} fan-outs, max {args.max_new_tokens} new tokens, "
          f"{args.rounds} interleaved rounds; {describe_hardware()}, {torch.get_num_threads()} torch threads\n")
    print("| policy | parameters | prompts per generate() call | fan-outs/s | decoded tokens/s | speed-up [min, max over rounds] |")
    print("|---|---|---|---|---|---|")
    for name in args.policy:
        policy = build(name, cfg, data.catalog.domain, subqueries, args.max_new_tokens)
        params = sum(x.numel() for x in policy.model.parameters())
        seconds: dict[int, list[float]] = {b: [] for b in args.prompts_per_call}
        tokens: dict[int, list[int]] = {b: [] for b in args.prompts_per_call}
        policy.sample(texts[:1], 2, seed=0, batch_size=2)  # warm-up
        for r in range(args.rounds):
            order = args.prompts_per_call[r % len(args.prompts_per_call):] + args.prompts_per_call[: r % len(args.prompts_per_call)]
            for b in order:
                t0 = time.perf_counter()
                policy.sample(texts, args.samples, seed=r, batch_size=b)
                seconds[b].append(time.perf_counter() - t0)
                tokens[b].append(int(sum(policy.last_generated_tokens)))
        base = np.array(seconds[args.prompts_per_call[0]])
        label = "Gemma 3 270M (pretrained)" if name == "gemma3-270m" else name
        for b in args.prompts_per_call:
            t = np.array(seconds[b])
            ratio = base / t
            print(f"| {label} | {params / 1e6:.2f}M | {b} | {len(texts) * args.samples / t.mean():.1f} | "
                  f"{np.mean(tokens[b]) / t.mean():.0f} | {ratio.mean():.2f}x [{ratio.min():.2f}, {ratio.max():.2f}] |", flush=True)


if __name__ == "__main__":
    main()
