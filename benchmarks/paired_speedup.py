"""Speed-up over a reference retriever, measured in interleaved rounds, with 95% intervals.

    python benchmarks/paired_speedup.py -c configs/music.yaml
    python benchmarks/paired_speedup.py -c configs/music.yaml --retrievers dense_topk r4t_diffusion --rounds 40
    python benchmarks/paired_speedup.py -c configs/music.yaml --spec \
        '{"name": "latency_only_fanout", "arch": "qwen2.5-0.5b", "new_tokens": 81, "label": "latency_only_fanout (qwen2.5-0.5b)"}' \
        --reference "latency_only_fanout (qwen2.5-0.5b)" "fanout_lm (RL-tuned, R4T-FOLM)"

Two references by default, each with its own table from the same rounds: the RL-tuned
fan-out LM this run trained (0.85M parameters: its time is mostly ``generate()``
overhead per token) and, with the ``[gemma]`` extra installed, a real pretrained LM doing
the same fan-out on the same queries (Gemma 3 270M), whose measured tokens per fan-out
are printed beside it.

`r4t benchmark` times each retriever in its own sweep, minutes after the previous one; on a
shared or throttling machine the speed can drift between sweeps, and a ratio of two such
numbers carries that drift. Here every round times one call of each retriever on the same
batch (order rotated per round, caches dropped before every call), and the speed-up is the
median of the per-round ratios with a bootstrap 95% interval over rounds
(``r4t.bench.stats.median_ratio``), end to end and at fan-out (encode + generate).
Retrievers are the benchmark's default entries, chosen by label (default: the RL-tuned
fan-out LM as the reference, dense top-k and both r4t_diffusion entries). Prints a Markdown
table headed by the machine it ran on.

``--query-precision bf16-mixed`` serves every retriever with the query (and sub-query)
encoder at that precision while the catalog vectors and models stay as trained: a latency
what-if for retraining with that precision, labelled as such in the output
(``benchmarks/encoder_precision.py`` measures how close the vectors stay).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.bench.latency import batch_of, measure_interleaved
from r4t.bench.leaderboard import RL_FANOUT_LABEL
from r4t.bench.runner import GEMMA_LATENCY_LABEL, VARIANT_SAMPLER, default_entries, device_sync, parse_entry
from r4t.bench.stats import median_ratio
from r4t.catalog.embedders import PRECISIONS, embedders, with_precision
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.errors import ConfigError

DEFAULT_CANDIDATES = ("dense_topk", "r4t_diffusion", f"r4t_diffusion (Heun {VARIANT_SAMPLER['steps']} steps)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--reference", nargs="+", default=[RL_FANOUT_LABEL, GEMMA_LATENCY_LABEL],
                   help="labels of the retrievers the speed-ups are relative to (one table each; absent ones are skipped)")
    p.add_argument("--retrievers", nargs="+", default=list(DEFAULT_CANDIDATES), help="labels of the retrievers to compare")
    p.add_argument("--spec", nargs="+", default=[], metavar="JSON",
                   help="extra entries as JSON retriever specs with a \"label\" (replacing a default entry of that label), "
                        "e.g. a latency-only LLM decoding the measured tokens per fan-out")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--device", default="cpu", help="cpu or cuda (stage boundaries then synchronise)")
    p.add_argument("--query_precision", "--query-precision", choices=sorted(PRECISIONS), help="encode queries at this precision (latency what-if)")
    args = p.parse_args()

    cfg = load_config(args.config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    if args.query_precision:
        data = dataclasses.replace(data, _embedder=embedders.build(with_precision(cfg.get("embedder"), args.query_precision)))
    entries = {e.label: e for e in default_entries(cfg, data)[0]}
    entries.update({e.label: e for e in map(parse_entry, args.spec)})
    references = [r for r in args.reference if r in entries or r != GEMMA_LATENCY_LABEL]  # Gemma only with its extra
    wanted = references + [label for label in args.retrievers if label not in references]
    unknown = [label for label in wanted if label not in entries]
    if unknown:
        raise ConfigError(f"no benchmark entry {unknown} for this run directory; entries: {sorted(entries)}")
    sync = device_sync(args.device)
    built = {label: entries[label].build(data, args.device) for label in wanted}
    texts = batch_of([q.text for q in data.catalog.queries_for(split="test", kind="open")], args.batch)
    times = measure_interleaved(built, texts, rounds=args.rounds, sync=sync)

    print(f"# {data.catalog.name}: batch {args.batch}, {args.rounds} interleaved rounds (one run), references {', '.join(references)}")
    if args.query_precision:
        print(f"# query encoder at precision {args.query_precision}, catalog vectors and models as trained: latency only")
    print(f"# hardware: {describe_hardware()}; timed on {args.device}")
    for label in references:
        tokens = getattr(built[label], "completion_tokens", None)
        if tokens:
            params = sum(p.numel() for p in built[label].policy.model.parameters())
            print(f"# {label}: {params / 1e6:.2f}M parameters, {np.mean(tokens):.1f} tokens decoded per fan-out (EOS included, "
                  f"{len(tokens)} fan-outs)")
        elif getattr(built[label], "latency_only", False):
            r = built[label]
            print(f"# {label}: {r.num_parameters / 1e6:.1f}M parameters, random weights (latency only)"
                  + (f", {r.new_tokens} tokens decoded per fan-out" if hasattr(r, "new_tokens") else ""))
    for reference in references:
        ref = times[reference]
        print(f"\n## speed-up over {reference}\n")
        print("| retriever | p50 s | p50 fan-out s | speed-up end to end [95% CI] | speed-up at fan-out [95% CI] |")
        print("|---|---|---|---|---|")
        for label in wanted:
            t = times[label]
            whole, fan = median_ratio(ref.total_s, t.total_s), median_ratio(ref.fanout_s(), t.fanout_s())
            print(f"| {label} | {np.median(t.total_s):.4f} | {np.median(t.fanout_s()):.4f} | "
                  f"{whole.mean:.2f}x [{whole.lo:.2f}, {whole.hi:.2f}] | {fan.mean:.2f}x [{fan.lo:.2f}, {fan.hi:.2f}] |", flush=True)


if __name__ == "__main__":
    main()
