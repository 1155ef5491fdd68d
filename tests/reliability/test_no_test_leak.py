"""No val/test intent, query text or collection reaches any training input: the curated
collections trained on, the warm-start pairs, the policy's vocabulary, the RL prompts,
the raw-set datamodule and the synthesized shards."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from r4t.bench.set_quality import intent_cluster
from r4t.catalog.catalog import Query
from r4t.data.datamodules import collection_splits
from r4t.data.sources import catalogs
from r4t.fanout.prompts import bare_prompt
from r4t.fanout.stage import RLConfig, rl_queries
from r4t.fanout.tiny_lm import train_word_tokenizer
from r4t.fanout.warmstart import training_vocabulary, warmstart_pairs

SENTINEL = "zyzzyvaheldout"  # a word only a test query uses


def held_out(catalog):
    queries = [q for q in catalog.queries if q.split != "train"]
    return queries, {intent_cluster(q) for q in queries if q.intent}, {q.text.lower() for q in queries}


@pytest.mark.parametrize("name", ["music", "fashion"])
def test_training_collections_pairs_vocabulary_and_prompts_hold_no_test_intent(name):
    catalog = catalogs.build({"name": name, "size": "tiny", "seed": 0})
    # A test query whose text has a word no training text has: it must stay out of the vocabulary.
    test_q = next(q for q in catalog.queries if q.split == "test")
    catalog.queries[catalog.queries.index(test_q)] = dataclasses.replace(test_q, text=f"{test_q.text} {SENTINEL}")
    queries, intents, texts = held_out(catalog)
    assert intents and texts  # the checks below have something to catch

    train_cols = catalog.collections_for("train")
    assert train_cols and len(train_cols) < len(catalog.collections)  # held-out intents' collections exist and are held out
    assert not {intent_cluster(Query("c", c.title, "train", intent=c.theme)) for c in train_cols} & intents
    assert not {c.title.lower() for c in train_cols} & texts

    pairs = warmstart_pairs(catalog, catalog.queries_for(split="train"), subqueries=5)
    assert pairs
    assert not {p for p, _ in pairs} & {bare_prompt(q.text) for q in queries}

    vocab = set(train_word_tokenizer(training_vocabulary(catalog, pairs)).get_vocab())
    assert SENTINEL not in vocab
    assert not {t.lower() for t in training_vocabulary(catalog, pairs)} & texts

    for regime in ("oar", "wscr"):
        train_q, val_q = rl_queries(catalog, RLConfig(regime=regime))
        assert {q.split for q in train_q} == {"train"} and {q.split for q in val_q} == {"val"}
        assert not {intent_cluster(q) for q in train_q} & intents


def test_raw_set_splits_follow_the_query_intents():
    catalog = catalogs.build({"name": "music", "size": "default", "seed": 0})
    _, intents, _ = held_out(catalog)
    train, val, test = collection_splits(catalog, 0.05, 0)
    cols = catalog.collections
    train_intents = {intent_cluster(Query("c", cols[i].title, "train", intent=cols[i].theme)) for i in train}
    assert not train_intents & intents
    assert len(test) > 0 and {cols[i].split for i in test} == {"test"} and {cols[i].split for i in val} == {"val"}
    assert len(set(train) | set(val) | set(test)) == len(cols)  # nothing dropped, nothing twice
    assert np.intersect1d(train, np.concatenate([val, test])).size == 0


def test_synthesized_shards_hold_only_training_queries(tiny_data, tiny_policy_dir, tmp_path):
    from r4t.fanout.policy import load_policy
    from r4t.rewards import build_reward
    from r4t.synth.shards import read_shards
    from r4t.synth.transducer import SynthConfig, synthesize

    policy = load_policy(str(tiny_policy_dir), domain="music", subqueries=3)
    cfg = SynthConfig(samples_per_query=1, queries_per_shard=16, set_size=10, seed=0, max_queries=24)
    synthesize(tiny_data, policy, build_reward(None), cfg, tmp_path, policy_id="tiny", progress=False)
    samples = list(read_shards(sorted(str(p) for p in tmp_path.glob("shard-*.tar"))))
    _, intents, texts = held_out(tiny_data.catalog)
    by_qid = {q.qid: q for q in tiny_data.catalog.queries}
    assert samples
    assert {by_qid[s["meta"]["qid"]].split for s in samples} == {"train"}
    assert not {s["query"].lower() for s in samples} & texts
    assert not {intent_cluster(by_qid[s["meta"]["qid"]]) for s in samples} & intents
