"""Renamed section keys (r4t.sections): an old name still works with a warning, problems are named
as the file writes them, and every cache key (warm start, RL, fit checkpoints) stays what it was,
so renaming `policy.k` to `policy.subqueries` in a config retrains nothing."""

from __future__ import annotations

import warnings

import pytest

from r4t.config import validate_components
from r4t.errors import ConfigError
from r4t.lightning_cli import _fit_identity
from r4t.runs import config_hash
from r4t.sections import checked_section, legacy_names, section_problems
from r4t.stage_configs import PolicyConfig


def test_the_old_name_works_with_a_warning_naming_the_new_one():
    with pytest.warns(FutureWarning, match=r"policy\.k is deprecated; call it policy\.subqueries"):
        old = checked_section(PolicyConfig, {"k": 3, "model": "tiny"}, "policy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current name warns about nothing
        new = checked_section(PolicyConfig, {"subqueries": 3, "model": "tiny"}, "policy")
    assert old == new and new.subqueries == 3


def test_problems_name_the_key_as_the_file_writes_it_and_both_names_are_refused():
    with pytest.warns(FutureWarning):
        assert section_problems(PolicyConfig, {"k": 0}, "policy") == ["policy.k: must be >= 1, got 0"]
    assert section_problems(PolicyConfig, {"subqueries": "ten"}, "policy") == ["policy.subqueries: expected an integer, got 'ten'"]
    both = section_problems(PolicyConfig, {"k": 3, "subqueries": 3}, "policy")
    assert both == ["policy: 'k' is the old name of 'subqueries'; give only 'subqueries'"]
    with pytest.raises(ConfigError, match="give only 'subqueries'"):
        validate_components({"policy": {"k": 3, "subqueries": 4}})


def test_cache_keys_keep_the_first_names():
    # The hashes this commit's parent computed from asdict(PolicyConfig(...)) with the field named `k`:
    # the warm-start and RL cache folders of every existing run dir.
    assert config_hash(PolicyConfig().cache_key()) == "d95cf84a2b75"
    assert config_hash(PolicyConfig(subqueries=3, model="x").cache_key()) == "8b37f6764ba1"
    assert legacy_names(PolicyConfig, {"subqueries": 3, "model": "x"}) == {"k": 3, "model": "x"}


def test_a_fit_config_that_renames_the_key_keeps_its_checkpoint_folder():
    def fit_config(policy: dict) -> dict:
        return {"run_dir": "runs/x", "policy": policy, "trainer": {"max_epochs": 1},
                "data": {"class_path": "r4t.data.datamodules.ShardDataModule", "init_args": {"policy": policy, "set_size": 3}}}

    old, new = _fit_identity(fit_config({"k": 3})), _fit_identity(fit_config({"subqueries": 3}))
    assert config_hash(old) == config_hash(new)
    assert new["policy"] == new["data"]["init_args"]["policy"] == {"k": 3}
    assert config_hash(_fit_identity(fit_config({"subqueries": 4}))) != config_hash(new)  # a changed value still starts afresh


def test_decoding_settings_stay_out_of_the_warm_start_key():
    assert config_hash(PolicyConfig(constrained=True, min_subqueries=3).warmstart_key()) == "d95cf84a2b75"  # the warm start above
    assert PolicyConfig(constrained=True).cache_key() != PolicyConfig().cache_key()  # the RL cache is a new one
    with pytest.raises(ConfigError, match="min_subqueries: must be <= policy.subqueries"):
        checked_section(PolicyConfig, {"subqueries": 3, "min_subqueries": 4}, "policy")
