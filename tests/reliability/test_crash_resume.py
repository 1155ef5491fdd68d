"""kill -9 during every long stage, then the same command again: it resumes and finishes,
and nothing half-written is ever taken as complete.

One real subprocess per step, killed by SIGKILL at an exact failpoint (``r4t.runs.failpoint``).
The stages run in pipeline order in one run directory so each builds on the last.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch

from tests.reliability.helpers import CONF, assert_killed, assert_ok, r4t, tree_hashes

pytestmark = pytest.mark.slow


def _config(tmp_path):
    cfg = tmp_path / "tiny-r4t.yaml"
    text = (CONF / "tiny-r4t.yaml").read_text()
    text = text.replace("max_epochs: 1", "max_epochs: 3").replace("enable_checkpointing: false", "enable_checkpointing: true")
    # two shards of 8 queries: enough to kill after the first and resume the second, at a third of the time
    cfg.write_text(text.replace("queries_per_shard: 8", "queries_per_shard: 8\n  max_queries: 16"))
    return cfg


def test_kill9_every_stage_then_resume(tmp_path):
    cfg = str(_config(tmp_path))
    cache = tmp_path / "runs" / "tiny" / "cache"

    # 1. catalog + embeddings: killed after the embeddings are written but before the folder is renamed.
    assert_killed(r4t(["data", "-c", cfg], tmp_path, failpoint="atomic_dir:embeddings"))
    emb_root = cache / "embeddings"
    assert not [p for p in emb_root.iterdir() if not p.name.startswith(".")], "a half-built embeddings folder looks complete"
    assert [p for p in emb_root.iterdir() if ".tmp-" in p.name]  # the unfinished work is in a temp folder only
    log = assert_ok(r4t(["data", "-c", cfg], tmp_path))
    assert "catalog: reusing" in log  # the catalog finished before the kill and is kept
    (emb,) = [p for p in emb_root.iterdir() if not p.name.startswith(".")]

    # 2. RL: killed right after checkpoint 1 is saved; the rerun resumes from it.
    assert_killed(r4t(["rl", "-c", cfg], tmp_path, failpoint="rl:saved:1"))
    assert not list((cache / "rl").rglob("final/config.json"))
    log = assert_ok(r4t(["rl", "-c", cfg], tmp_path))
    assert "resuming from the newest checkpoint" in log and "(step 1)" in log
    (metrics,) = (cache / "rl").rglob("metrics.csv")
    steps = [int(float(r["step"])) for r in csv.DictReader(open(metrics))]
    assert steps == [1, 2]  # each step logged once, none lost

    # 3. synthesis: killed after shard 0; the rerun skips it and writes the rest.
    assert_killed(r4t(["synthesize", "-c", cfg], tmp_path, failpoint="synth:shard:0"))
    (shards,) = [p for p in (cache / "shards").iterdir() if not p.name.startswith(".")]
    assert not (shards / "manifest.json").exists()
    assert_ok(r4t(["synthesize", "-c", cfg], tmp_path))
    resumed = tree_hashes(shards, "shard-*")
    manifest = json.loads((shards / "manifest.json").read_text())
    # an uninterrupted run with the same policy and seed writes byte-identical shards
    shutil.rmtree(shards)
    assert_ok(r4t(["synthesize", "-c", cfg], tmp_path))
    assert tree_hashes(shards, "shard-*") == resumed
    assert json.loads((shards / "manifest.json").read_text())["samples"] == manifest["samples"] > 0
    # a shard cut short after the manifest exists is found on reuse and rebuilt, not reused (#17, finding 4)
    first = shards / "shard-00000.tar"
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    log = assert_ok(r4t(["synthesize", "-c", cfg], tmp_path))
    assert "shards: 1 damaged" in log and "shard-00000.tar" in log and "rebuilding them" in log
    assert tree_hashes(shards, "shard-*") == resumed
    assert "sizes and checksums verified" in assert_ok(r4t(["synthesize", "-c", cfg], tmp_path))

    # 4. diffusion training: killed at the start of epoch 2 (epochs 0 and 1 checkpointed).
    assert_killed(r4t(["fit", "-c", cfg], tmp_path, failpoint="fit:epoch:2"))
    (last,) = (tmp_path / "runs" / "tiny" / "diffusion" / "checkpoints").rglob("last.ckpt")
    after_two = torch.load(last, map_location="cpu", weights_only=False)
    assert after_two["epoch"] == 1
    log = assert_ok(r4t(["fit", "-c", cfg], tmp_path))
    assert "resuming from" in log
    done = torch.load(last, map_location="cpu", weights_only=True)  # resumed with weights_only=True
    assert done["epoch"] == 2 and done["global_step"] == after_two["global_step"] * 3 // 2
    # a last.ckpt cut short is kept aside and the fit starts over, instead of a traceback (#17, finding 3)
    folder = last.parent
    last.write_bytes(last.read_bytes()[:1000])
    log = assert_ok(r4t(["fit", "-c", cfg], tmp_path))
    assert "not a readable torch checkpoint" in log and "starting this fit from scratch" in log
    assert [p.name for p in folder.glob("last.ckpt.damaged-*")] and torch.load(last, weights_only=True)["epoch"] == 2
    # nothing in the cache was rebuilt by the resumed commands
    assert [p for p in emb_root.iterdir() if not p.name.startswith(".")] == [emb]
    # every command wrote only inside the run directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "tiny-r4t.yaml"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["tiny"]
