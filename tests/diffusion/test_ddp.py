"""`r4t fit` under Lightning DDP with 2 CPU processes (gloo): the whole tiny pipeline, one epoch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from r4t.data.datamodules import ShardDataModule

TINY_R4T = Path(__file__).parents[1] / "conf" / "tiny-r4t.yaml"


def test_ranks_get_disjoint_shards():
    dm = ShardDataModule.__new__(ShardDataModule)
    dm.train_files = [f"shard-{i}.tar" for i in range(5)]
    parts = [dm.rank_files(r, 2) for r in range(2)]
    assert parts == [["shard-0.tar", "shard-2.tar", "shard-4.tar"], ["shard-1.tar", "shard-3.tar"]]
    assert dm.rank_files(2, 8) == dm.train_files  # fewer shards than ranks: everyone reads all


@pytest.mark.slow
def test_fit_with_ddp_on_two_cpu_processes(tmp_path):
    r4t = Path(sys.executable).with_name("r4t")
    cmd = [str(r4t), "fit", "-c", str(TINY_R4T), "--run_dir", str(tmp_path / "run"), "--trainer.strategy", "ddp",
           "--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1",
           "--trainer.enable_checkpointing", "true", "--trainer.logger", "true"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    assert "[r4t fit] done" in log
    assert list((tmp_path / "run" / "diffusion").rglob("*.ckpt")), "rank 0 saved no checkpoint"
