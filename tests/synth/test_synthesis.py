"""Synthesis: sample layout, filters, crash-resume without loss or duplication, and
identical shards from 1 and 2 ranks."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from r4t.errors import ConfigError
from r4t.fanout.policy import load_policy
from r4t.rewards import build_reward
from r4t.synth.filters import keep_mask
from r4t.synth.shards import read_shards, shard_complete, sidecar
from r4t.synth.transducer import SynthConfig, synthesize

CFG = SynthConfig(samples_per_query=3, queries_per_shard=8, set_size=10, seed=0)


def run(tiny_data, tiny_policy_dir, out, rank=0, world=1, cfg=CFG):
    policy = load_policy(str(tiny_policy_dir), domain="music", subqueries=3)
    return synthesize(tiny_data, policy, build_reward(None), cfg, out, policy_id="tiny", rank=rank, world_size=world, progress=False)


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("shard-*.tar"))}


@pytest.fixture(scope="module")
def reference(tiny_data, tiny_policy_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    run(tiny_data, tiny_policy_dir, out)
    return out


def test_samples_and_manifest(tiny_data, reference):
    manifest = json.loads((reference / "manifest.json").read_text())
    samples = list(read_shards(sorted(str(p) for p in reference.glob("shard-*.tar"))))
    assert manifest["samples"] == len(samples) > 0
    assert manifest["catalog_fingerprint"] == tiny_data.catalog.fingerprint()
    s = samples[0]
    assert s["z"].shape == (10, 64) and s["zq"].shape == (64,) and s["z"].dtype == np.float32
    assert set(s["rewards"]) == {"total", "groundedness", "vendi_diversity", "alignment"}
    # OAR rows are the content embeddings of the sub-queries' top-1 items, in some order
    items = tiny_data.item_emb[s["meta"]["items"]]
    assert all(np.isclose(items @ row, 1.0, atol=1e-5).any() for row in s["z"])
    assert len({x["key"] for x in samples}) == len(samples)  # no duplicates


def test_resume_after_a_crash_loses_and_duplicates_nothing(tiny_data, tiny_policy_dir, reference, tmp_path):
    out = tmp_path / "shards"
    run(tiny_data, tiny_policy_dir, out)
    shards = sorted(out.glob("shard-*.tar"))
    # simulate a crash: one shard written but its sidecar missing, one truncated mid-write
    sidecar(shards[0]).unlink()
    shards[1].write_bytes(shards[1].read_bytes()[:100])
    (out / "manifest.json").unlink()
    assert not shard_complete(shards[0]) and not shard_complete(shards[1])
    stats = run(tiny_data, tiny_policy_dir, out)
    redone = json.loads(sidecar(shards[0]).read_text())["count"] + json.loads(sidecar(shards[1]).read_text())["count"]
    assert stats["written_now"] == redone  # only the two broken shards were rewritten
    assert digest(out) == digest(reference)  # and everything equals an uninterrupted run


def test_two_ranks_write_the_same_shards_as_one(tiny_data, tiny_policy_dir, reference, tmp_path):
    out = tmp_path / "ranks"
    run(tiny_data, tiny_policy_dir, out, rank=1, world=2)
    assert not (out / "manifest.json").exists()  # rank 1 never writes the manifest
    run(tiny_data, tiny_policy_dir, out, rank=0, world=2)
    assert digest(out) == digest(reference)
    assert json.loads((out / "manifest.json").read_text())["samples"] == json.loads((reference / "manifest.json").read_text())["samples"]


def test_filters():
    assert keep_mask([0.1, 0.5, 0.3]) == [True, True, True]
    assert keep_mask([0.1, 0.5, 0.3], "threshold", 0.3) == [False, True, True]
    assert keep_mask([0.1, 0.5, 0.3, 0.2], "top_fraction", 0.5) == [False, True, True, False]
    assert keep_mask([0.1, 0.2], "top_fraction", 0.1) == [False, True]  # at least one per query
    with pytest.raises(ConfigError, match="needs synth.filter_value"):
        keep_mask([0.1], "threshold")
    with pytest.raises(ConfigError, match="must be one of"):
        keep_mask([0.1], "best")


def test_max_queries_limits_the_work(tiny_data, tiny_policy_dir, tmp_path):
    from dataclasses import replace

    run(tiny_data, tiny_policy_dir, tmp_path / "few", cfg=replace(CFG, max_queries=5))
    manifest = json.loads((tmp_path / "few" / "manifest.json").read_text())
    assert manifest["queries"] == 5 and len(manifest["shards"]) == 1


def test_generation_batch_decodes_several_queries_per_call_and_ranks_still_agree(tiny_data, tiny_policy_dir, tmp_path, monkeypatch):
    from dataclasses import replace

    from r4t.synth.transducer import query_groups

    batched = replace(CFG, generation_batch=6, max_queries=16)  # 2 queries x 3 samples per generate() call; 2 shards
    queries = tiny_data.catalog.queries_for("train", "open")[:8]
    assert [len(g) for g in query_groups(queries, batched)] == [2, 2, 2, 2]
    assert [len(g) for g in query_groups(queries[:5], batched)] == [2, 2, 1]  # a group never leaves its shard
    assert [len(g) for g in query_groups(queries[:3], CFG)] == [1, 1, 1]       # default: one query per call
    calls = []
    from transformers import GenerationMixin

    original = GenerationMixin.generate
    monkeypatch.setattr(GenerationMixin, "generate", lambda self, *a, **kw: calls.append(kw["input_ids"].shape[0]) or original(self, *a, **kw))
    one = tmp_path / "one"
    run(tiny_data, tiny_policy_dir, one, cfg=batched)
    assert calls and max(calls) == 6 and sum(calls) == 3 * 16
    two = tmp_path / "two"
    run(tiny_data, tiny_policy_dir, two, rank=1, world=2, cfg=batched)
    run(tiny_data, tiny_policy_dir, two, rank=0, world=2, cfg=batched)
    assert digest(two) == digest(one)
    assert batched.cache_key()["generation_batch"] == 6 and "generation_batch" not in CFG.cache_key()  # old caches stay valid


def test_shards_do_not_depend_on_the_rank_count_with_a_batch_sensitive_encoder(tiny_data, tiny_policy_dir, tmp_path, monkeypatch):
    """A transformer encoder's vectors move in the last bits with the batch they share; every
    shard starts from an empty embedding cache, so its encoder batches are the same on any rank."""
    from dataclasses import replace

    encode = tiny_data.embedder.encode

    def batch_sensitive(texts, **kw):
        x = encode(texts, **kw).copy()
        x[:, 0] += 1e-3 * len(texts)  # the batch's size leaks into every vector, as padding does
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    monkeypatch.setattr(tiny_data.embedder, "encode", batch_sensitive)
    one, two = tmp_path / "one", tmp_path / "two"
    cfg = replace(CFG, max_queries=48)  # 6 shards: enough for a carried-over cache to change some encoder batches
    run(tiny_data, tiny_policy_dir, one, cfg=cfg)
    run(tiny_data, tiny_policy_dir, two, rank=1, world=2, cfg=cfg)
    run(tiny_data, tiny_policy_dir, two, rank=0, world=2, cfg=cfg)
    assert len(digest(one)) >= 2 and digest(two) == digest(one)


def test_served_target_with_anchor_is_what_fanout_lm_serves(tiny_data, tiny_policy_dir, tmp_path):
    """synth.target: served + synth.anchor: each sample's rows are the distinct items that
    fanout_lm (same anchor) serves for that fan-out; top1 stays the default."""
    from r4t.fanout.grounding import anchored

    cfg = SynthConfig(samples_per_query=3, queries_per_shard=8, set_size=10, seed=0, max_queries=4, anchor=0.6, target="served")
    run(tiny_data, tiny_policy_dir, tmp_path, cfg=cfg)
    samples = list(read_shards(sorted(str(p) for p in tmp_path.glob("shard-*.tar"))))
    assert samples
    encode, index = tiny_data.embedder.encode, tiny_data.item_index
    for s in samples:
        subs = s["meta"]["subqueries"]
        directions = anchored(encode(subs), encode([s["query"]]), 0.6)
        served = index.search(directions, 10)[1][0].tolist() if len(subs) == 1 else index.search_distinct(directions, 10)
        assert s["meta"]["items"] == served and len(set(served)) == 10
        rows = tiny_data.item_emb[served]
        assert sorted(np.argmax(s["z"] @ rows.T, axis=1).tolist()) == list(range(10))  # each served item once
    assert SynthConfig().cache_key() == SynthConfig(anchor=0.0, target="top1").cache_key()  # old shard caches stay valid
    with pytest.raises(ConfigError, match="served needs the oar"):
        policy = load_policy(str(tiny_policy_dir), domain="music", subqueries=3)
        synthesize(tiny_data, policy, build_reward(None), cfg, tmp_path / "w", regime="wscr", progress=False)


def test_served_dpp_target_is_dpp_over_the_fanouts_pool(tiny_data, tiny_policy_dir, tmp_path):
    """synth.target: served_dpp: each sample's rows are the items DPP selects from the union of its
    anchored sub-queries' top-pool_depth hits, and the filter's reward scores exactly those."""
    from r4t.fanout.grounding import anchored, pool_select

    cfg = SynthConfig(samples_per_query=3, queries_per_shard=8, set_size=10, seed=0, max_queries=4, anchor=0.5,
                      target="served_dpp", pool_depth=8, pool_alpha=3.0)
    run(tiny_data, tiny_policy_dir, tmp_path, cfg=cfg)
    samples = list(read_shards(sorted(str(p) for p in tmp_path.glob("shard-*.tar"))))
    assert samples
    encode = tiny_data.embedder.encode
    for s in samples:
        zq = encode([s["query"]])[0]
        expected = pool_select(tiny_data, zq, anchored(encode(s["meta"]["subqueries"]), zq, 0.5), 8, 3.0, 10)
        assert s["meta"]["items"] == expected and len(set(expected)) == 10
        assert sorted(np.argmax(s["z"] @ tiny_data.item_emb[expected].T, axis=1).tolist()) == list(range(10))
    key = SynthConfig(target="served_dpp").cache_key()
    assert key["target"] == "served_dpp" and "pool_depth" not in key  # defaults stay out of the key
    assert SynthConfig(target="served_dpp", pool_alpha=3.0).cache_key()["pool_alpha"] == 3.0
    with pytest.raises(ConfigError, match="served_dpp needs the oar"):
        policy = load_policy(str(tiny_policy_dir), domain="music", subqueries=3)
        synthesize(tiny_data, policy, build_reward(None), cfg, tmp_path / "w", regime="wscr", progress=False)
