"""Constrained decoding: every completion of an untrained (random) policy parses, within budget."""

import pytest
import torch

from r4t.errors import ConfigError
from r4t.fanout.constrained import FanoutFormat, constrained_generation, token_classes
from r4t.fanout.parsing import format_subqueries, parse_subqueries
from r4t.fanout.policy import FanoutPolicy
from r4t.fanout.tiny_lm import build_tiny_lm, train_word_tokenizer

TEXTS = [format_subqueries(["mellow jazz piano", "rainy day soul", "road trip rock"]), "query: jazz for a rainy day =>"]


def random_policy(**kwargs) -> FanoutPolicy:
    tok = train_word_tokenizer(TEXTS)
    return FanoutPolicy(build_tiny_lm(len(tok), layers=1, width=32, heads=2, seed=3), tok, domain="music", **kwargs)


def test_unconstrained_random_policy_does_not_parse():
    policy = random_policy()  # the control: the same weights without the constraint
    completions = policy.sample(["jazz for a rainy day"], num_samples=16, seed=0)[0]
    assert sum(parse_subqueries(c) is not None for c in completions) == 0


@pytest.mark.parametrize("budget", [13, 20, 60])
def test_every_constrained_completion_parses_within_its_budget(budget):
    policy = random_policy(subqueries=4, constrained=True)
    policy.generation.max_new_tokens = budget
    completions = policy.sample(["jazz for a rainy day", "road trip"], num_samples=24, seed=0)
    parsed = [parse_subqueries(c, 4) for group in completions for c in group]
    assert all(p is not None and 1 <= len(p) <= 4 for p in parsed)
    assert max(policy.last_generated_tokens) <= budget
    if budget == 60:  # enough room: the random policy writes varied counts of sub-queries
        assert len({len(p) for p in parsed if p}) > 1


def test_min_subqueries_is_respected_when_the_budget_allows():
    policy = random_policy(subqueries=5, min_subqueries=3, constrained=True)
    policy.generation.max_new_tokens = 80
    parsed = [parse_subqueries(c, 5) for c in policy.sample(["road trip"], num_samples=16, seed=1)[0]]
    assert all(p is not None and 3 <= len(p) <= 5 for p in parsed)


def test_words_never_contain_structure_or_specials():
    tok = train_word_tokenizer(TEXTS + ['a "quoted" \\ word'])
    classes = token_classes(tok)
    vocab = tok.get_vocab()
    from r4t.fanout.constrained import EOS, QUOTE, WORD

    assert classes[vocab['"']] == QUOTE and classes[tok.eos_token_id] == EOS
    assert classes[vocab["\\"]] != WORD and classes[tok.pad_token_id] != WORD and classes[vocab["jazz"]] == WORD


def test_a_tokenizer_without_the_format_tokens_is_refused():
    tok = train_word_tokenizer(["only plain words here"])
    with pytest.raises(ConfigError, match="tokens of their own"):
        FanoutFormat.factory(tok)


def test_budget_below_the_shortest_fanout_is_refused():
    make = FanoutFormat.factory(train_word_tokenizer(TEXTS))
    with pytest.raises(ConfigError, match="at least 13 tokens"):
        make(12)


def test_constrained_generation_wraps_generate_and_restores_it():
    policy = random_policy(subqueries=3, constrained=True)
    model, tok = policy.model, policy.tokenizer
    enc = tok(["query: road trip =>"] * 4, return_tensors="pt", padding=True)
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=30, do_sample=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    with constrained_generation(model, policy.format):
        out = model.generate(**enc, generation_config=config)  # as trl calls it: no logits_processor argument
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert all(parse_subqueries(t) for t in texts)
    assert "generate" not in vars(model)  # the class's own generate again
