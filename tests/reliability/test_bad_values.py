"""Nonsense values fail before any stage starts: one line per problem naming the key, exit
code 2, nothing written (issue #17, finding 2). Before, ``rl.steps: -5`` trained for 17+
minutes (trl falls back to epochs), ``policy.k: 0`` (now ``policy.subqueries``) trained a policy that never parses,
``set_size: 0`` fitted and failed later, ``synth.samples_per_query: 0`` failed after RL."""

from __future__ import annotations

import warnings

import pytest
import torch
import yaml

from r4t.cli import main
from r4t.errors import ConfigError, DataError
from r4t.retrievers import retrievers
from r4t.sections import checked_section, section_problems
from r4t.stage_configs import RLConfig, SynthConfig
from tests.reliability.helpers import CONF, save_small_checkpoint


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _config(tmp_path, **sections):
    cfg = yaml.safe_load((CONF / "tiny.yaml").read_text())
    for dotted, value in sections.items():
        node = cfg
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    cfg["run_dir"] = str(tmp_path / "runs" / "tiny")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("command", ["rl", "synthesize", "data", "fit"])
@pytest.mark.parametrize("setting, message", [
    ({"rl__steps": -5}, "rl.steps: must be >= 0, got -5"),
    ({"policy__subqueries": 0}, "policy.subqueries: must be >= 1, got 0"),
    ({"synth__samples_per_query": 0}, "synth.samples_per_query: must be >= 1, got 0"),
    ({"policy__subqueries": "ten"}, "policy.subqueries: expected an integer, got 'ten'"),
    ({"rl__loss": "ppo"}, "rl.loss: must be one of 'soft_grpo', 'grpo', 'dr_grpo', 'dapo', got 'ppo'"),
    ({"synth__sample_per_query": 4}, "synth: unknown key 'sample_per_query'"),
    ({"synth__anchor": 1.0}, "synth.anchor: must be <= 0.99, got 1.0"),
    ({"policy__warmstart__phrase_keep": 0}, "policy.warmstart.phrase_keep: must be a number in (0, 1], got 0"),
    ({"policy__warmstart__step": 5}, "policy.warmstart: unknown key(s) ['step']"),
])
def test_stage_values_fail_before_any_stage(tmp_path, capsys, command, setting, message):
    path = _config(tmp_path, **setting)
    assert main([command, "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "runs").exists()  # nothing was built


@pytest.mark.parametrize("setting, message", [
    ({"model__set_size": 0}, "model.set_size must be an integer >= 1, got 0"),
    ({"data__init_args__batch_size": -1}, "data.batch_size must be >= 1, got -1"),
])
def test_fit_values_fail_before_training(tmp_path, capsys, setting, message):
    path = _config(tmp_path, **setting)
    assert main(["fit", "-c", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_every_problem_is_reported_at_once():
    problems = section_problems(RLConfig, {"steps": -1, "num_generations": 1, "learning_rate": "fast"}, "rl")
    assert problems == ["rl.steps: must be >= 0, got -1", "rl.num_generations: must be >= 2, got 1",
                        "rl.learning_rate: expected a number, got 'fast'"]
    with pytest.raises(ConfigError, match="synth.max_queries: must be >= 1, got 0"):
        checked_section(SynthConfig, {"max_queries": 0}, "synth")
    assert checked_section(SynthConfig, {"max_queries": None, "temperature": 1}, "synth").temperature == 1  # ints are numbers
    assert section_problems(SynthConfig, None, "synth") == []
    assert section_problems(SynthConfig, [1, 2], "synth") == ["synth: expected a mapping of settings, got [1, 2]"]


def test_a_checkpoint_from_another_catalog_is_refused(tiny_data, tmp_path):
    """Same dimension, other catalog: refused by the fingerprint the checkpoint records."""
    # what a fit records (tests/retrievers: test_diffusion_retrievers_from_a_fit_checkpoint)
    trained_on = {"catalog_fingerprint": tiny_data.catalog.fingerprint(), "embeddings": tiny_data.paths["embeddings"].name}
    path = save_small_checkpoint(tmp_path / "same.ckpt", extra={"r4t_data": trained_on})
    ckpt = torch.load(path, weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checkpoint that says where it came from loads without a warning
        retrievers.build({"name": "r4t_diffusion", "checkpoint": str(path)}, data=tiny_data)

    ckpt["r4t_data"]["catalog_fingerprint"] = "0123456789abcdef"
    torch.save(ckpt, path)
    with pytest.raises(DataError, match="trained on catalog '0123456789abcdef', but this config's catalog 'music-tiny'"):
        retrievers.build({"name": "r4t_diffusion", "checkpoint": str(path)}, data=tiny_data)
    del ckpt["r4t_data"]
    torch.save(ckpt, path)
    with pytest.warns(UserWarning, match="does not say which catalog it was trained on"):
        retrievers.build({"name": "r4t_diffusion", "checkpoint": str(path)}, data=tiny_data)


@pytest.mark.parametrize("args, message", [
    (["--retriever", '{"name": "mmr", "lambda_": "half"}'], "argument lambda_: expected a number, got 'half'"),
    (["--retriever", '{"name": "mmr", "lambda_": 0.5'], "--retriever: invalid JSON"),
    (["--retriever", "dense_topk", "-k", "0"], "--set_size: must be > 0, got 0"),
    (["--retriever", '{"name": "dpp", "alpha": "x"}'], "argument alpha: expected a number, got 'x'"),
])
def test_retrieve_arguments_fail_in_one_line(tmp_path, capsys, args, message):
    assert main(["retrieve", "-c", str(CONF / "tiny.yaml"), "--query", "jazz", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()  # checked before the catalog is built


def test_config_file_mistakes_fail_in_one_line(tmp_path, capsys):
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("catalog: {name: music\nembedder: [\n")
    for command in ("data", "rl", "synthesize"):
        assert main([command, "-c", str(bad_yaml)]) == 2
        err = capsys.readouterr().err
        assert f"{bad_yaml}: invalid YAML" in err and err.count("\n") == 1, err
    (tmp_path / "afile").write_text("x")
    assert main(["data", "-c", str(CONF / "tiny.yaml"), "--run_dir", str(tmp_path / "afile")]) == 2
    assert "run_dir: " in capsys.readouterr().err
    assert main(["data", "-c", str(_config(tmp_path, embedder={"name": "hashing", "dim": 0}))]) == 2
    assert "embedder hashing: dim must be an integer >= 1, got 0" in capsys.readouterr().err


def test_reward_weight_and_index_settings_fail_before_any_stage(tmp_path, capsys):
    path = _config(tmp_path, reward={"components": {"alignment": {"weight": "ten"}}})
    assert main(["data", "-c", str(path)]) == 2
    assert "reward.components.alignment.weight: expected a number, got 'ten'" in capsys.readouterr().err
    path = _config(tmp_path, index={"factory": "Flat", "nprobe": 8})
    assert main(["data", "-c", str(path)]) == 2
    assert "index.nprobe: applies to IVF indexes only; index.factory 'Flat' has none" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_index_refuses_nprobe_without_inverted_lists():
    import numpy as np

    from r4t.catalog.index import CatalogIndex

    vectors = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    with pytest.raises(ConfigError, match="index.nprobe applies to IVF indexes only"):
        CatalogIndex(vectors, factory="HNSW8", nprobe=4, use_gpu=False)
    with pytest.raises(ConfigError, match="index.nprobe must be an integer >= 1, got 0"):
        CatalogIndex(vectors, factory="IVF4,Flat", nprobe=0, use_gpu=False, train_size=64)
    assert CatalogIndex(vectors, factory="IVF4,Flat", nprobe=2, use_gpu=False, train_size=64).search(vectors[:2], 3)[1].shape == (2, 3)
