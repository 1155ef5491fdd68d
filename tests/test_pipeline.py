"""r4t.pipeline.Pipeline: the stages of a config built in order, cached, with their times returned;
the shard datamodule only reads what the pipeline built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from r4t.errors import ConfigError
from r4t.pipeline import Pipeline
from tests.conftest import TINY_CONFIG

# The tiny R4T config, cut to what a pipeline test needs: no RL, two samples per query.
SECTIONS = {
    "catalog": {"name": "music", "size": "tiny", "seed": 0},
    "embedder": {"name": "hashing", "dim": 64},
    "index": {"factory": "Flat", "metric": "ip"},
    "policy": {"model": "tiny", "subqueries": 3, "max_new_tokens": 48, "tiny": {"layers": 2, "width": 64, "heads": 2},
               "warmstart": {"steps": 300, "batch_size": 16, "lr": 3.0e-3}},
    "rl": {"steps": 0},
    "synth": {"samples_per_query": 2, "queries_per_shard": 8},
}


def sections(run_dir: Path) -> dict:
    return {**SECTIONS, "run_dir": str(run_dir)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A pipeline whose shards were built here, with the StageRun of that first build."""
    run_dir = tmp_path_factory.mktemp("pipeline") / "run"
    pipeline = Pipeline(sections(run_dir))
    assert not pipeline.shards_ready()
    return pipeline, pipeline.ensure("shards")


def test_ensure_builds_the_stages_in_order_and_returns_their_times_then_reuses_them(built):
    pipeline, run = built
    run_dir = pipeline.run_dir
    assert list(run.seconds) == ["data", "RL policy", "synthesis"]
    assert run.path == pipeline.shards_dir() and (run.path / "manifest.json").exists() and pipeline.shards_ready()
    assert pipeline.rl_policy_dir().joinpath("config.json").exists()  # rl.steps 0: the warm start is the teacher
    manifest = (run.path / "manifest.json").read_bytes()

    again = Pipeline(sections(run_dir)).ensure("shards")  # a new process would do the same
    assert again.path == run.path and (run.path / "manifest.json").read_bytes() == manifest
    assert again.seconds["synthesis"] < run.seconds["synthesis"]
    assert "data" in again.report() and "synthesis" in again.report()

    assert Pipeline(sections(run_dir)).ensure("rl").path == pipeline.rl_policy_dir()
    assert list(Pipeline(sections(run_dir)).ensure("data").seconds) == ["data"]


def test_a_bad_section_fails_when_the_pipeline_is_made_before_any_stage(tmp_path):
    bad = {**sections(tmp_path / "run"), "rl": {"steps": -5}, "synth": {"samples_per_query": 0}}
    with pytest.raises(ConfigError, match=r"rl\.steps: must be >= 0, got -5"):
        Pipeline(bad)
    with pytest.raises(ConfigError, match="unknown stage 'shard'"):
        Pipeline(sections(tmp_path / "run")).ensure("shard")
    with pytest.raises(ConfigError, match="--steps: must be >= 0"):
        Pipeline(sections(tmp_path / "run")).with_rl_steps(-1)
    assert not (tmp_path / "run").exists()


def test_the_shard_datamodule_reads_shards_and_never_builds_them(tmp_path, built):
    from r4t.data.datamodules import ShardDataModule

    dm = ShardDataModule(**sections(tmp_path / "run"), set_size=10, batch_size=4)
    with pytest.raises(ConfigError, match="no synthesized shards for this config.*r4t synthesize"):
        dm.setup()
    assert not (tmp_path / "run" / "cache" / "shards").exists()  # nothing was synthesized behind the caller's back
    assert not (tmp_path / "run" / "cache" / "policy").exists()

    pipeline, run = built
    dm = ShardDataModule(**sections(pipeline.run_dir), set_size=10, batch_size=4)
    dm.setup()
    assert dm.shard_dir == run.path and dm.dim == 64 and dm.train_samples > 0


def test_a_fit_whose_processes_an_outside_launcher_started_is_told_to_build_the_stages_first(tmp_path):
    """torchrun/SLURM start every rank at once: none of them may run trl for the others, so the
    fit stops in one line, before training, naming the command that builds the stages on every rank."""
    config = tmp_path / "fit.yaml"
    cfg = yaml.safe_load(TINY_CONFIG.with_name("tiny-r4t.yaml").read_text())
    cfg.update(sections(tmp_path / "run"))
    cfg["trainer"].update({"strategy": "ddp", "devices": 2})
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "LOCAL_RANK": "1", "NODE_RANK": "0", "WORLD_SIZE": "2", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "r4t.cli", "fit", "-c", str(config)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "started by an outside launcher" in proc.stderr and "r4t.cli synthesize -c CONFIG" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "cache" / "shards").exists() and not (tmp_path / "run" / "cache" / "rl").exists()
