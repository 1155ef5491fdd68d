"""Stage (ii) (`r4t synthesize`): the RL-tuned policy writes (query, set) training pairs.

For every training query: S fan-outs at temperature 0.9, each grounded in the index. The
target Z [L, d] holds, per sub-query, the content embedding of its top-1 item (OAR) or the
sub-query's own text embedding (WSCR); L = k rows, in a seeded random order (sets are
order-free). ``synth.target: served`` takes the L distinct items the fan-out serves instead
(and the reward, for the filter, scores them); ``served_dpp`` takes the L items DPP selects from
the union of the sub-queries' top-``pool_depth`` hits (``pool_select``); ``synth.anchor`` searches from between each
sub-query and the query, as ``fanout_lm``'s ``anchor``. A fan-out with fewer than L sub-queries repeats rows (seeded) to fill L.
Unparsable fan-outs are dropped and counted. Every sample keeps its reward components.

Queries are cut into fixed shards (``queries_per_shard``); a shard's samples are seeded by
the query (not by the process), so 1 or N ranks write identical shards (``generation_batch``
decodes several queries of one shard together, seeded by the first); rank r of N writes
shards j with j % N == r. Finished shards (tar + checksummed sidecar) are skipped on a
rerun, so an interrupted run resumes at the first unfinished shard without losing or
duplicating a sample. ``manifest.json`` is written last.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from r4t.catalog.catalog import Query
from r4t.data.prepare import PreparedData
from r4t.errors import ConfigError, DataError
from r4t.fanout.grounding import FanoutGrounder
from r4t.fanout.policy import FanoutPolicy
from r4t.rewards.composite import CompositeReward
from r4t.runs import atomic_write_json, failpoint
from r4t.stage_configs import SynthConfig  # noqa: F401  (re-exported)
from r4t.synth.filters import keep_mask
from r4t.synth.shards import encode_sample, shard_complete, sidecar, write_shard


def query_seed(base: int, qid: str) -> int:
    return (base * 1_000_003 + zlib.crc32(qid.encode())) % (2**31 - 1)


def _rows(vectors: np.ndarray, set_size: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly set_size rows in random order (repeat rows, seeded, when there are fewer)."""
    idx = np.arange(len(vectors))
    if len(idx) < set_size:
        idx = np.concatenate([idx, rng.choice(idx, set_size - len(idx))])
    return vectors[rng.permutation(idx)[:set_size]]


def query_groups(queries: list[Query], cfg: SynthConfig) -> list[list[Query]]:
    """The queries whose fan-outs decode in one generate() call: one each by default, else as
    many as fit ``generation_batch`` prompts. Groups never cross a shard, so a shard's samples
    do not depend on how many ranks write the shards."""
    per_call = 1 if cfg.generation_batch is None else max(1, cfg.generation_batch // cfg.samples_per_query)
    return [queries[i : i + per_call] for i in range(0, len(queries), per_call)]


def sample_group(policy: FanoutPolicy, group: list[Query], cfg: SynthConfig) -> list[list[str]]:
    """``samples_per_query`` completions for each query of the group, seeded by its first query."""
    policy.generation.temperature = cfg.temperature
    texts, seed = [q.text for q in group], query_seed(cfg.seed, group[0].qid)
    if cfg.generation_batch is None:
        return policy.sample(texts, cfg.samples_per_query, seed=seed)
    return policy.sample(texts, cfg.samples_per_query, seed=seed, batch_size=max(cfg.generation_batch, cfg.samples_per_query))


def synthesize_query(policy: FanoutPolicy, grounder: FanoutGrounder, reward: CompositeReward, query: Query,
                     cfg: SynthConfig, regime: str, policy_id: str,
                     completions: list[str] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Samples for one query (already filtered) and the number of unparsable fan-outs;
    ``completions``: its fan-outs when they were decoded with other queries' (``sample_group``)."""
    seed = query_seed(cfg.seed, query.qid)
    if completions is None:
        completions = sample_group(policy, [query], cfg)[0]
    grounded = grounder.ground(completions, [query.text] * len(completions), [query.qid] * len(completions))
    rng = np.random.default_rng(seed)
    d = grounder.data
    zq = d.query_emb[grounder.query(query.qid)[0]]
    kept, failures = [], 0
    candidates = []
    for s, g in enumerate(grounded):
        if g is None:
            failures += 1
            continue
        out = reward(g.batch)
        assert g.batch.item_ids is not None and g.batch.subquery_emb is not None  # the grounder sets both
        items = g.top1 if cfg.target == "top1" else g.batch.item_ids[0]
        vectors = d.item_emb[items] if regime == "oar" else g.batch.subquery_emb[0].numpy()
        terms = {n: float(v[0]) for n, v in out.terms.items()}
        candidates.append((float(out.total[0]), s, g, _rows(vectors, cfg.set_size, rng), terms, items))
    mask = keep_mask([c[0] for c in candidates], cfg.filter, cfg.filter_value)
    for (total, s, g, z, terms, items), keep in zip(candidates, mask):
        if keep:
            kept.append(encode_sample(
                key=f"{query.qid}-{s:04d}", query=query.text, zq=zq, z=z,
                rewards={"total": total, **terms},
                meta={"qid": query.qid, "policy": policy_id, "subqueries": g.subqueries, "items": items, "regime": regime},
            ))
    return kept, failures


def synthesize(
    data: PreparedData, policy: FanoutPolicy, reward: CompositeReward, cfg: SynthConfig, out_dir: Path,
    regime: str = "oar", policy_id: str = "", rank: int = 0, world_size: int = 1, progress: bool = True,
    before_manifest: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Write this rank's shards under ``out_dir``; rank 0 writes the manifest once all exist
    (``before_manifest``, e.g. a process-group barrier, runs on every rank before that check)."""
    if regime not in ("oar", "wscr"):
        raise ConfigError(f"regime must be 'oar' or 'wscr', got {regime!r}")
    if cfg.samples_per_query < 1 or cfg.queries_per_shard < 1 or cfg.set_size < 1:
        raise ConfigError("synth.samples_per_query, queries_per_shard and set_size must be >= 1")
    kind = "compositional" if regime == "wscr" else "open"
    queries = data.catalog.queries_for("train", kind)[: cfg.max_queries]
    if not queries:
        raise DataError(f"catalog {data.catalog.name!r} has no {kind} training queries to synthesize from")
    shards = [queries[i : i + cfg.queries_per_shard] for i in range(0, len(queries), cfg.queries_per_shard)]
    mine = [j for j in range(len(shards)) if j % world_size == rank]
    if cfg.target != "top1" and regime != "oar":
        raise ConfigError(f"synth.target: {cfg.target} needs the oar regime (wscr targets are sub-query vectors)")
    grounder = FanoutGrounder(data, max_subqueries=policy.subqueries, anchor=cfg.anchor,
                              served_k=None if cfg.target == "top1" else cfg.set_size,
                              pool=(cfg.pool_depth, cfg.pool_alpha) if cfg.target == "served_dpp" else None)
    t0, written, failures = time.perf_counter(), 0, 0
    bar = tqdm(total=sum(len(shards[j]) for j in mine) * cfg.samples_per_query, desc="synthesizing", unit="fan-out", disable=not progress)
    with torch.no_grad():  # not torch.set_grad_enabled(False): that would switch gradients off for the caller too
        for j in mine:
            path = out_dir / f"shard-{j:05d}.tar"
            if shard_complete(path):
                bar.update(len(shards[j]) * cfg.samples_per_query)
                continue
            samples = []
            # Each shard starts from an empty embedding cache: a transformer encoder's vectors depend (in the
            # last float bits) on which texts share its batch, so a cache carried over from the shards this
            # rank happened to write before would make the bytes depend on the number of ranks.
            grounder.clear_cache()
            for group in query_groups(shards[j], cfg):
                decoded = sample_group(policy, group, cfg)
                for q, completions in zip(group, decoded):
                    kept, fails = synthesize_query(policy, grounder, reward, q, cfg, regime, policy_id, completions)
                    samples += kept
                    failures += fails
                bar.update(len(group) * cfg.samples_per_query)
            written += write_shard(path, samples)
            failpoint(f"synth:shard:{j}")
            bar.set_postfix(samples_per_s=f"{written / (time.perf_counter() - t0):.1f}")
    bar.close()
    stats = {"rank": rank, "written_now": written, "unparsable_now": failures, "seconds": time.perf_counter() - t0}
    if before_manifest is not None:
        before_manifest()
    if rank == 0 and all(shard_complete(out_dir / f"shard-{j:05d}.tar") for j in range(len(shards))):
        entries = [json.loads(sidecar(out_dir / f"shard-{j:05d}.tar").read_text()) | {"file": f"shard-{j:05d}.tar"} for j in range(len(shards))]
        atomic_write_json(out_dir / "manifest.json", {
            "samples": sum(e["count"] for e in entries), "shards": entries, "queries": len(queries),
            "catalog_fingerprint": data.catalog.fingerprint(), "policy": policy_id, "regime": regime,
            "config": asdict(cfg), "dim": int(data.item_emb.shape[1]),
            "embedder": data.embedder_spec, "vectors_id": data.vectors_id,
        })
    return stats
