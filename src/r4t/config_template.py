"""``r4t init``: a config for a user's own catalog, with the defaults sized to it.

The set size (``set_size`` of synth, model and data; the policy writes as many ``subqueries``) is
the collections' median size, clipped to [2, 50]: the pipeline learns to return sets like the curated ones. The index is
exact (``Flat``) up to 200,000 items and an inverted file above (``IVF{4 sqrt N},Flat`` with
``nprobe`` 16, rounded to a power of two), the usual faiss choice by catalog size; shards hold
at most a quarter of the training queries, so a small catalog still has a validation shard. Everything
else is ``configs/music.yaml``'s measured defaults, written out so the user sees what runs.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Mapping

import yaml

from r4t.catalog.catalog import Catalog

FLAT_LIMIT = 200_000


def set_size_for(cat: Catalog) -> int:
    sizes = [len(c.items) for c in cat.collections]
    return int(min(50, max(2, round(statistics.median(sizes))))) if sizes else 10


def index_for(n_items: int) -> dict[str, Any]:
    if n_items <= FLAT_LIMIT:
        return {"factory": "Flat", "metric": "ip"}
    nlist = 2 ** round(math.log2(4 * math.sqrt(n_items)))
    return {"factory": f"IVF{nlist},Flat", "metric": "ip", "nprobe": 16}


def config_for(cat: Catalog, files: Mapping[str, str | None]) -> str:
    """The YAML text of a config for ``cat`` read from ``files`` (items / collections / queries paths)."""
    set_size = set_size_for(cat)
    # At least 4 shards (one is held out for validation) even when there are few training queries.
    shard_queries = max(1, min(16, len(cat.queries_for(split="train")) // 4))
    name = cat.name
    catalog = {"name": "files", **{k: v for k, v in files.items() if v}, "domain": cat.domain, "catalog_name": name}
    sections: dict[str, Any] = {
        "run_dir": f"runs/{name}",
        "catalog": catalog,
        "embedder": {"name": "minilm"},
        "index": index_for(len(cat)),
        "reward": {"components": {"groundedness": 0.6, "vendi_diversity": {"weight": 0.2, "target_size": set_size}, "alignment": 0.2}},
        "policy": {"model": "tiny", "prompt_style": "bare", "subqueries": set_size, "max_new_tokens": max(64, 16 * set_size),
                   "tiny": {"layers": 4, "width": 128, "heads": 4}, "warmstart": {"steps": 300, "batch_size": 32, "lr": 1.0e-3}},
        "rl": {"loss": "soft_grpo", "regime": "oar", "steps": 100, "prompts_per_step": 4, "num_generations": 8, "num_iterations": 2,
               "learning_rate": 5.0e-5, "temperature": 0.9, "save_steps": 25, "eval_queries": 64},
        "synth": {"samples_per_query": 16, "temperature": 0.9, "set_size": set_size, "queries_per_shard": shard_queries, "filter": "none"},
        "seed_everything": 0,
        "trainer": {"max_epochs": 30, "accelerator": "auto", "devices": 1, "log_every_n_steps": 10},
        "model": {"backbone": {"name": "coherent_transformer", "depth": 3, "width": 128, "mlp": 256, "heads": 4, "dropout": 0.1},
                  "set_size": set_size, "sigma_data": None, "train_noise": "lognormal", "cond_dropout": 0.1, "lr": 3.0e-4,
                  "warmup_steps": 100, "ema_decay": 0.999, "query_anchor": 1.0},
        "data": {"class_path": "r4t.data.datamodules.ShardDataModule", "init_args": {"set_size": set_size, "batch_size": 64}},
    }
    header = (f"# r4t on your catalog {name!r}: {len(cat)} items, {len(cat.collections)} collections (median size {set_size}), "
              f"{len(cat.queries)} queries.\n# Written by `r4t init`; paths are relative to where you run r4t. Next:\n"
              "#   r4t catalog validate -c THIS_FILE && r4t fit -c THIS_FILE && r4t benchmark -c THIS_FILE\n")
    return header + yaml.safe_dump(sections, sort_keys=False, default_flow_style=None, width=120)
