"""Run the real `r4t` command in a subprocess, optionally killed by SIGKILL at a failpoint."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

CONF = Path(__file__).parents[1] / "conf"


def r4t(args: list[str], cwd: Path, failpoint: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    env.pop("R4T_FAILPOINT", None)
    if failpoint:
        env["R4T_FAILPOINT"] = failpoint
    exe = Path(sys.executable).with_name("r4t")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def assert_killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, f"expected SIGKILL, got {proc.returncode}\n{proc.stderr[-2000:]}"


def assert_ok(proc: subprocess.CompletedProcess) -> str:
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    return log


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(folder: Path, pattern: str = "*") -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob(pattern)) if p.is_file()}


def save_small_checkpoint(path: Path, dim: int = 64, model=None, **hparams_override) -> Path:
    """``model`` (default: a small untrained SetDiffusion) written as Lightning writes it; ``hparams_override``
    then replaces saved hyper-parameters (or adds top-level keys with ``extra=...``)."""
    import lightning as L
    import torch

    from r4t.diffusion.module import SetDiffusion

    extra = hparams_override.pop("extra", {})
    if model is None:
        model = SetDiffusion(backbone={"name": "mlp", "width": 16, "depth": 1}, set_size=4, dim=dim, sigma_data=0.1)
    trainer = L.Trainer(max_epochs=0, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    if hparams_override or extra:
        ckpt = torch.load(path, weights_only=True)
        ckpt["hyper_parameters"].update(hparams_override)
        ckpt.update(extra)
        torch.save(ckpt, path)
    return path
