"""Sampler steps vs set quality vs latency for one trained set-diffusion checkpoint.

    python benchmarks/sampler_steps_quality.py -c configs/music.yaml --checkpoint runs/music/diffusion/.../last.ckpt

Every (sampler, steps) pair scores the same open test queries (composite reward with its
bootstrap 95% CI, Vendi, alignment, offline judge) and times batch-8 retrieval with the
benchmark's protocol. Prints a Markdown table headed by the machine it ran on.
"""

from __future__ import annotations

import argparse
import itertools

from r4t.bench.hardware import describe_hardware
from r4t.bench.latency import LatencyProtocol, batch_of, measure_batch
from r4t.bench.set_quality import SetEvaluator
from r4t.bench.stats import bootstrap_ci
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.errors import ConfigError
from r4t.retrievers import retrievers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--name", default="r4t_diffusion", help="r4t_diffusion or raw_diffusion")
    p.add_argument("--samplers", nargs="+", default=["euler", "dpmpp_2m", "heun", "edm_sde"])
    p.add_argument("--steps", nargs="+", type=int, default=[2, 4, 8, 16, 32, 64, 256])
    p.add_argument("--guidance", type=float, nargs="+", default=[0.0],
                   help="classifier-free guidance strengths (the retriever default is 0; the paper uses 0.1)")
    p.add_argument("--temperatures", type=float, nargs="+", default=[1.0],
                   help="prior temperatures (sampler `temperature`: wider starting noise, more spread-out sets)")
    p.add_argument("--seed", type=int, default=0, help="the retriever's sampling seed")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--split", default="test", choices=["val", "test"],
                   help="choose a default on val, then report it on test")
    args = p.parse_args()

    cfg = load_config(args.config)
    if not cfg.get("reward"):
        raise ConfigError(f"{args.config}: the table ranks by the composite reward, so the config needs a `reward:` section")
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    ev = SetEvaluator(data, reward=cfg.get("reward"))
    queries = data.catalog.queries_for(split=args.split, kind="open")
    texts = batch_of([q.text for q in queries], args.batch)
    print(f"# {data.catalog.name}: {len(queries)} open {args.split} queries, checkpoint {args.checkpoint}, sampling seed {args.seed}")
    print(f"# hardware: {describe_hardware()}\n")
    print(f"| sampler | steps | temperature | guidance | network calls | composite [95% CI] | Vendi | alignment | judge alignment | p50 s @ batch {args.batch} |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for sampler, steps, temperature, guidance in itertools.product(args.samplers, args.steps, args.temperatures, args.guidance):
        spec = {"name": args.name, "checkpoint": args.checkpoint, "guidance": guidance, "seed": args.seed,
                "sampler": {"name": sampler, "steps": steps, "temperature": temperature}}
        r = retrievers.build(spec, data=data)
        rep = ev.evaluate(r, queries, 10, f"{sampler}-{steps}")
        ci = bootstrap_ci(rep.per_query["reward/composite"])
        lat = measure_batch(r, texts, LatencyProtocol(warmup=1, repeats=5, min_repeats=3, budget_s=20.0))
        calls = r.sampler.network_calls
        v = rep.values
        batch = f"{calls} (x2 batch)" if guidance else str(calls)
        print(f"| {sampler} | {steps} | {temperature:g} | {guidance:g} | {batch} | {ci.mean:.4f} [{ci.lo:.4f}, {ci.hi:.4f}] | {v['vendi_diversity']:.3f} | "
              f"{v['alignment']:.3f} | {v.get('judge_alignment', float('nan')):.1f} | {lat.p50_s:.4f} |", flush=True)


if __name__ == "__main__":
    main()
