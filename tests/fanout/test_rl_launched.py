"""`r4t rl` on 2 CPU processes (gloo) through the launchers a GPU node uses: one policy, logged
and saved once, resumable from a multi-process checkpoint; and the data-parallel loss invariant."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = Path(__file__).parents[1] / "conf" / "tiny.yaml"
BIN = Path(sys.executable).parent


def launch(args: list[str], cwd: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("R4T_FAILPOINT", None)
    if failpoint:
        env["R4T_FAILPOINT"] = failpoint
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def accelerate_rl(config: Path, cwd: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    # `--multi_gpu` is accelerate's torchrun path; on a machine without CUDA the trainer joins it on CPU with gloo.
    return launch([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "r4t.cli", "rl", "-c", str(config)], cwd, failpoint)


@pytest.mark.slow
def test_rl_under_accelerate_launch_trains_one_policy_logs_once_and_resumes(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.read_text().replace("run_dir: runs/tiny", f"run_dir: {tmp_path / 'run'}").replace("steps: 300", "steps: 60").replace("  steps: 2", "  steps: 3"))
    crashed = accelerate_rl(config, tmp_path, failpoint="rl:saved:2")
    assert crashed.returncode != 0, "the failpoint should have killed the job after checkpoint 2"
    out = next((tmp_path / "run" / "cache" / "rl").iterdir())
    assert (out / "checkpoint-2").is_dir() and not (out / "final").exists()
    assert sorted(p.name for p in (out / "checkpoint-2").glob("rng_state*.pth")) == ["rng_state_0.pth", "rng_state_1.pth"]
    resumed = accelerate_rl(config, tmp_path)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-4000:]
    assert log.count("resuming from the newest checkpoint") == 1 and log.count("[r4t rl] saved") == 1
    assert log.count("[r4t rl] warm-start policy on") == 1 and "training on 2 processes, 4 completions each per step" in log
    assert "on 2 process(es)" in log and (out / "final" / "config.json").exists()
    with open(out / "metrics.csv") as fh:
        steps = [int(float(row["step"])) for row in csv.DictReader(fh)]
    assert steps == sorted(set(steps)) and steps[-1] == 3  # each logged step once, by rank 0 alone


@pytest.mark.slow
def test_soft_grpo_loss_and_gradient_do_not_depend_on_the_number_of_processes(tmp_path):
    proc = launch([str(BIN / "torchrun"), "--nproc-per-node", "2", str(Path(__file__).with_name("ddp_loss_check.py"))], tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "ranks 2: loss" in proc.stdout and "max gradient difference" in proc.stdout


def test_a_batch_that_does_not_split_over_the_processes_is_refused():
    from r4t.errors import ConfigError
    from r4t.fanout.stage import RLConfig, data_parallel_batch

    assert data_parallel_batch(RLConfig(prompts_per_step=4, num_generations=8), 2) == 16
    assert data_parallel_batch(RLConfig(prompts_per_step=4, num_generations=8), 1) == 32
    with pytest.raises(ConfigError, match="do not split evenly over 3 processes"):
        data_parallel_batch(RLConfig(prompts_per_step=2, num_generations=4), 3)


def test_rl_precision_is_checked_and_keeps_old_caches():
    from r4t.errors import ConfigError
    from r4t.sections import checked_section
    from r4t.stage_configs import RLConfig

    assert "precision" not in RLConfig().cache_key() and RLConfig(precision="bf16-mixed").cache_key()["precision"] == "bf16-mixed"
    with pytest.raises(ConfigError, match="precision"):
        checked_section(RLConfig, {"precision": "fp8"}, "rl")
