import torch

from r4t.fanout.parsing import format_subqueries, parse_subqueries
from r4t.fanout.policy import FanoutPolicy
from r4t.fanout.sft import supervised_warmstart
from r4t.fanout.tiny_lm import build_tiny_lm, train_word_tokenizer
from r4t.fanout.warmstart import warmstart_pairs


def test_word_tokenizer_round_trip_parses():
    completion = format_subqueries(["mellow 70s jazz piano", "hip-hop for the gym"])
    tok = train_word_tokenizer([completion])
    decoded = tok.decode(tok(completion)["input_ids"], skip_special_tokens=True)
    assert parse_subqueries(decoded) == ["mellow 70s jazz piano", "hip - hop for the gym"]


def test_warmstart_pairs_are_well_formed(tiny_data):
    cat = tiny_data.catalog
    pairs = warmstart_pairs(cat, cat.queries_for(split="train"))
    assert pairs and all(p.startswith("query: ") and p.endswith("=>") for p, _ in pairs)
    for _, completion in pairs:
        subs = parse_subqueries(completion)
        assert subs and len(subs) <= 10


def test_phrase_keep_one_names_every_phrase_attribute(tiny_data):
    import random

    from r4t.fanout.warmstart import PHRASE_ATTRIBUTES, item_phrase

    cat = tiny_data.catalog
    for i in range(20):
        full = " ".join(cat.attributes[a][i] for a in PHRASE_ATTRIBUTES["music"])
        assert item_phrase(cat, i, random.Random(i), keep=1.0) == full
    default = [item_phrase(cat, i, random.Random(i)) for i in range(200)]
    assert sum(len(p.split()) for p in default) < sum(len(item_phrase(cat, i, random.Random(i), keep=1.0).split()) for i in range(200))
    pairs = warmstart_pairs(cat, cat.queries_for(split="train"), phrase_keep=1.0)
    assert pairs and all(parse_subqueries(c) for _, c in pairs)


def test_warmstart_learns_and_sampling_is_seeded(tiny_data):
    cat = tiny_data.catalog
    pairs = warmstart_pairs(cat, cat.queries_for(split="train"))
    tok = train_word_tokenizer([t for p in pairs for t in p])
    policy = FanoutPolicy(build_tiny_lm(len(tok), layers=1, width=32, heads=2), tok, domain="music")
    losses = supervised_warmstart(policy, pairs, steps=60, batch_size=16, lr=3e-3, progress=False)
    assert sum(losses[-10:]) / 10 < 0.75 * sum(losses[:10]) / 10  # clearly learning
    a = policy.sample(["road-trip rock", "jazz for studying"], num_samples=2, seed=1)
    b = policy.sample(["road-trip rock", "jazz for studying"], num_samples=2, seed=1)
    assert a == b and len(a) == 2 and len(a[0]) == 2
    assert torch.is_tensor(next(policy.model.parameters()))
