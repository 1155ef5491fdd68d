"""Cache keys do not depend on how the run dir is spelled (``runs/x`` or its absolute path), and
caches keyed by an older r4t (by the spelling) are still found."""

from __future__ import annotations

import os
from pathlib import Path

from r4t.fanout.stage import rl_policy_dir, warm_start_dir
from r4t.lightning_cli import _fit_identity
from r4t.runs import cached_or_legacy, config_hash, path_key
from r4t.stage_configs import PolicyConfig, RLConfig, SynthConfig
from r4t.synth.stage import shards_dir


def test_path_key_is_the_path_under_the_cache_however_spelled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert path_key("runs/x/cache/policy/abc", "runs/x/cache") == "policy/abc"  # need not exist yet
    assert path_key(tmp_path / "runs/x/cache/policy/abc", "runs/x/cache") == "policy/abc"
    assert path_key("./runs/x/../x/cache/policy/abc", str(tmp_path / "runs/x/cache")) == "policy/abc"
    (tmp_path / "elsewhere").mkdir()
    assert path_key("elsewhere", "runs/x/cache") == str((tmp_path / "elsewhere").resolve())  # a local folder outside: absolute
    assert path_key("google/gemma-3-270m-it", "runs/x/cache") == "google/gemma-3-270m-it"  # a hub id: as written


def test_rl_and_shard_folders_are_one_for_relative_and_absolute_run_dirs(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    policy, rl, synth = PolicyConfig(subqueries=3), RLConfig(steps=1), SynthConfig(set_size=3)
    reward = {"components": {"alignment": 1.0}}
    relative = rl_policy_dir(tiny_data, policy, rl, reward, "runs/x")
    absolute = rl_policy_dir(tiny_data, policy, rl, reward, str(tmp_path / "runs/x"))
    assert relative != absolute and os.path.abspath(relative) == str(absolute)
    assert os.path.abspath(shards_dir(Path("runs/x"), relative, tiny_data, synth, "oar", reward)) == \
        str(shards_dir(tmp_path / "runs/x", absolute, tiny_data, synth, "oar", reward))
    constrained = rl_policy_dir(tiny_data, PolicyConfig(subqueries=3, constrained=True), rl, reward, "runs/x")
    assert constrained != relative  # a decoding setting names a new RL cache ...
    assert warm_start_dir(tiny_data, PolicyConfig(subqueries=3, constrained=True), Path("runs/x/cache")) == \
        warm_start_dir(tiny_data, policy, Path("runs/x/cache"))  # ... but not a new warm start


def test_a_cache_keyed_by_the_spelling_is_still_found(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    policy, rl, reward = PolicyConfig(subqueries=3), RLConfig(steps=1), None
    cache = Path("runs/x/cache")
    start = warm_start_dir(tiny_data, policy, cache)
    # the folder name r4t gave this RL run before keys ignored the spelling
    legacy = cache / "rl" / config_hash(str(start), tiny_data.catalog.fingerprint(), tiny_data.vectors_id, policy.cache_key(),
                                        rl.cache_key(), reward, rl.regime)
    fresh = rl_policy_dir(tiny_data, policy, rl, reward, "runs/x")
    assert fresh.parent != legacy
    legacy.mkdir(parents=True)  # e.g. a run that checkpointed there and should resume there
    assert rl_policy_dir(tiny_data, policy, rl, reward, "runs/x") == legacy / "final"
    fresh.parent.mkdir(parents=True)  # once the current key's folder exists it wins
    assert rl_policy_dir(tiny_data, policy, rl, reward, "runs/x") == fresh
    assert cached_or_legacy(tmp_path / "a", tmp_path / "a") == tmp_path / "a"


def test_fit_identity_leaves_out_the_run_dir_but_the_legacy_identity_keeps_it():
    def fit_config(run_dir: str) -> dict:
        return {"run_dir": run_dir, "policy": {"subqueries": 3}, "trainer": {"max_epochs": 1},
                "data": {"class_path": "r4t.data.datamodules.ShardDataModule", "init_args": {"run_dir": run_dir, "set_size": 3}}}

    relative, absolute = fit_config("runs/x"), fit_config("/home/me/runs/x")
    assert config_hash(_fit_identity(relative)) == config_hash(_fit_identity(absolute))
    assert config_hash(_fit_identity(relative, legacy=True)) != config_hash(_fit_identity(absolute, legacy=True))
    assert _fit_identity(relative, legacy=True)["run_dir"] == "runs/x"
