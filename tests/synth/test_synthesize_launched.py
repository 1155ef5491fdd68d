"""`torchrun --nproc-per-node 2 -m r4t.cli synthesize` writes the shards one process writes, byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TINY = Path(__file__).parents[1] / "conf" / "tiny.yaml"
BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_torchrun_synthesis_equals_one_process(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.read_text().replace("run_dir: runs/tiny", f"run_dir: {tmp_path / 'run'}").replace("steps: 300", "steps: 60")
                      + "  generation_batch: 8\n")  # the synth section is last: batched decoding, 4 queries per call
    run([str(BIN / "r4t"), "synthesize", "-c", str(config)], tmp_path)  # one process: data, warm start, RL, shards
    (shards,) = (tmp_path / "run" / "cache" / "shards").iterdir()
    one = digest(shards)
    assert len([n for n in one if n.endswith(".tar")]) >= 2  # enough shards for both ranks to write some
    shutil.rmtree(shards)
    log = run([str(BIN / "torchrun"), "--nproc-per-node", "2", "-m", "r4t.cli", "synthesize", "-c", str(config)], tmp_path)
    assert "rank 0/2" in log and "rank 1/2" in log and log.count("RL policy: reusing") == 1
    assert digest(shards) == one  # every shard, sidecar and the manifest
    assert json.loads((shards / "manifest.json").read_text())["config"]["generation_batch"] == 8
