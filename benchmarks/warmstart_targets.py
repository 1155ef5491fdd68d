"""What the fan-out teacher can reach at best: judge its warm-start *targets* themselves.

For every open query of a split whose intent has a curated collection (training queries:
the ones the teacher learns from and synthesizes on), ten members of that collection are
written as sub-queries in several ways, grounded exactly as ``fanout_lm`` grounds a fan-out
(one encoder call, ``search_distinct``, optionally anchored toward the query), and the set
is scored by the offline judge. A target design whose own sets score below dense top-k
cannot teach a policy to beat it. The judge reads intents here because this is an analysis
of the training data, not a reward.

    python benchmarks/warmstart_targets.py -c configs/music.yaml --split train --anchors 0 0.5
"""

from __future__ import annotations

import argparse
import random
from typing import Callable

import numpy as np

from r4t.bench.hardware import describe_hardware
from r4t.catalog.catalog import Catalog, Query
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.errors import ConfigError
from r4t.fanout.grounding import anchored
from r4t.fanout.warmstart import PHRASE_ATTRIBUTES, item_phrase
from r4t.metrics.judge import AttributeJudge

Design = Callable[[Query, int, random.Random], str]


def designs(cat: Catalog) -> dict[str, Design]:
    attrs = PHRASE_ATTRIBUTES.get(cat.domain, ())
    named = lambda i: " ".join(cat.attributes[a][i] for a in attrs)  # noqa: E731
    return {
        "item_phrase, phrase_keep 0.8 (the default)": lambda q, i, rng: item_phrase(cat, i, rng),
        "item_phrase, phrase_keep 1.0": lambda q, i, rng: item_phrase(cat, i, rng, keep=1.0),
        "every attribute": lambda q, i, rng: " ".join(cat.attributes[a][i] for a in cat.attributes),
        "query + item_phrase": lambda q, i, rng: f"{q.text} {item_phrase(cat, i, rng)}",
        "query + phrase_keep 1.0": lambda q, i, rng: f"{q.text} {named(i)}",
        "the member's own text (upper bound)": lambda q, i, rng: cat.item_texts[i],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--split", default="train", choices=["train", "val"], help="never test")
    p.add_argument("--anchors", type=float, nargs="+", default=[0.0, 0.5])
    p.add_argument("--max_queries", "--max-queries", type=int, default=None)
    args = p.parse_args()
    data = prepare_data(DataConfig.from_mapping(load_config(args.config)), quiet=True)
    cat = data.catalog
    if cat.domain not in PHRASE_ATTRIBUTES:
        raise ConfigError(f"warmstart_targets needs a generated catalog (music or fashion); {cat.name!r} is {cat.domain!r}")
    judge = AttributeJudge(cat)
    row = {q.qid: n for n, q in enumerate(cat.queries)}
    by_theme: dict[str, list] = {}
    for c in cat.collections:
        if c.split == args.split and c.theme:
            by_theme.setdefault(repr(sorted(c.theme.items())), []).append(c)
    queries = [q for q in cat.queries_for(args.split, "open") if repr(sorted(q.intent.items())) in by_theme][: args.max_queries]
    print(f"# {cat.name}: {len(queries)} {args.split} open queries with a curated collection of their intent; "
          f"10 members each; hardware: {describe_hardware()}\n")
    print("| target sub-query design | anchor | judge mean | judge diversity | judge alignment |")
    print("|---|---|---|---|---|")
    for name, design in designs(cat).items():
        for anchor in args.anchors:
            al, dv = [], []
            for q in queries:
                rng = random.Random(0)
                members = list(by_theme[repr(sorted(q.intent.items()))][0].items)
                members = rng.sample(members, min(10, len(members)))
                subs = list(dict.fromkeys(design(q, i, rng) for i in members))
                emb = anchored(data.embedder.encode(subs), data.query_emb[row[q.qid]], anchor)
                items = data.item_index.search(emb, 10)[1][0].tolist() if len(subs) == 1 else data.item_index.search_distinct(emb, 10)
                s = judge.score(q, items).percent()
                al.append(s["alignment"])
                dv.append(s["diversity"])
            print(f"| {name} | {anchor:g} | {(np.mean(al) + np.mean(dv)) / 2:.1f} | {np.mean(dv):.1f} | {np.mean(al):.1f} |", flush=True)


if __name__ == "__main__":
    main()
