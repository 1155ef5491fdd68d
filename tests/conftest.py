"""Shared tiny fixtures, built in code (no network, no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_CONFIG = Path(__file__).parent / "conf" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Tiny music catalog + hashing embeddings + index, prepared once per session."""
    from r4t.data.prepare import DataConfig, prepare_data

    run_dir = tmp_path_factory.mktemp("tiny_run")
    return prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64}, run_dir=str(run_dir)), quiet=True)


@pytest.fixture(scope="session")
def tiny_policy_dir(tiny_data, tmp_path_factory):
    """A tiny warm-started policy saved as a folder (as `r4t rl` writes it)."""
    from r4t.fanout.policy import FanoutPolicy
    from r4t.fanout.sft import supervised_warmstart
    from r4t.fanout.tiny_lm import build_tiny_lm, save_policy, train_word_tokenizer
    from r4t.fanout.warmstart import training_vocabulary, warmstart_pairs

    cat = tiny_data.catalog
    pairs = warmstart_pairs(cat, cat.queries_for(split="train"), subqueries=3)  # short answers: fast, untruncated
    tok = train_word_tokenizer(training_vocabulary(cat, pairs))
    policy = FanoutPolicy(build_tiny_lm(len(tok), layers=2, width=64, heads=2), tok, domain=cat.domain)
    supervised_warmstart(policy, pairs, steps=300, batch_size=16, lr=3e-3, progress=False)
    folder = tmp_path_factory.mktemp("policy")
    save_policy(policy.model, tok, folder)
    return folder
