"""Stage (ii) on disk: the teacher's shards under ``<run_dir>/cache/shards/<hash>``, verified
before reuse, and the single-process child that builds them for a DDP fit. The order of the
stages is ``r4t.pipeline.Pipeline``'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from r4t.data.prepare import PreparedData
from r4t.distributed import barrier, main_process_first
from r4t.fanout.policy import load_policy
from r4t.fanout.stage import rl_reward
from r4t.runs import cached_or_legacy, config_hash, path_key
from r4t.stage_configs import PolicyConfig, RLConfig, SynthConfig
from r4t.synth.shards import damaged_shards, sidecar
from r4t.synth.transducer import synthesize


def shards_dir(run_dir: Path, policy_dir: Path, data: PreparedData, synth_cfg: SynthConfig, regime: str, reward: Any) -> Path:
    """Where the shards of this teacher and these settings live (nothing is built)."""
    cache = run_dir / "cache"
    key = (data.catalog.fingerprint(), data.vectors_id, synth_cfg.cache_key(), regime, reward)
    current = cache / "shards" / config_hash("policy", path_key(policy_dir, cache), *key)
    return cached_or_legacy(current, cache / "shards" / config_hash(str(policy_dir), *key))  # legacy: keyed by the run dir's spelling


DISTRIBUTED_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT",
                   "TORCHELASTIC_RUN_ID", "PL_TRAINER_GPUS", "PL_GLOBAL_SEED")


def build_in_subprocess(cfg: Mapping[str, Any]) -> None:
    """Run `r4t synthesize` (RL policy + shards) in a single-process child.

    Inside a DDP job the trl trainer would see the job's RANK / WORLD_SIZE and wait for the
    other ranks, which are waiting for this one: a deadlock. The child gets an environment
    without the distributed variables and the same config sections, written next to the cache.
    """
    import os
    import subprocess
    import sys

    import yaml

    run_dir = Path(cfg.get("run_dir", "runs/default"))
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_file = run_dir / f"pipeline-{config_hash(dict(cfg))}.yaml"
    cfg_file.write_text(yaml.safe_dump(dict(cfg), sort_keys=True))
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}
    print(f"[r4t fit] distributed job: building the RL policy and shards in a single process ({cfg_file})", flush=True)
    proc = subprocess.run([sys.executable, "-m", "r4t.cli", "synthesize", "-c", str(cfg_file)], env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"`r4t synthesize -c {cfg_file}` failed with exit code {proc.returncode}")


def write_shards(data: PreparedData, policy_dir: Path, policy_cfg: PolicyConfig, rl_cfg: RLConfig, synth_cfg: SynthConfig,
                 reward: Mapping[str, Any] | None, run_dir: Path, rank: int = 0, world_size: int = 1,
                 group: bool = False) -> tuple[Path, bool]:
    """Write (or verify and reuse) the shards the policy at ``policy_dir`` synthesizes; returns their
    folder and whether verified shards were reused (nothing synthesized).

    ``rank``/``world_size`` pick this process's shards (j % world_size == rank). With
    ``group`` (a launcher's process group, e.g. torchrun) rank 0 writes the manifest once every
    rank has finished; without it the ranks are independent processes and rank 0 writes it if
    all shards exist when it ends. ``r4t.pipeline.Pipeline.ensure("shards")`` is the usual caller.
    """
    out = shards_dir(Path(run_dir), policy_dir, data, synth_cfg, rl_cfg.regime, reward)
    with main_process_first(rank, world_size if group else 1):  # rank 0 alone repairs a damaged cache
        reuse = _reusable(out, quiet=rank != 0)
    if reuse:
        return out, True
    policy = load_policy(str(policy_dir), domain=data.catalog.domain, subqueries=policy_cfg.subqueries,
                         constrained=policy_cfg.constrained, min_subqueries=policy_cfg.min_subqueries)
    stats = synthesize(data, policy, rl_reward(reward, rl_cfg), synth_cfg, out, rl_cfg.regime,
                       policy_id=str(policy_dir), rank=rank, world_size=world_size,
                       before_manifest=(lambda: barrier(world_size)) if group else None)
    rate = stats["written_now"] / max(stats["seconds"], 1e-9)
    print(f"[r4t synthesize] rank {rank}/{world_size}: {stats['written_now']} samples in {stats['seconds']:.1f}s "
          f"({rate:.1f} samples/s), {stats['unparsable_now']} unparsable fan-outs dropped -> {out}", flush=True)
    return out, False


def _reusable(out: Path, quiet: bool = False) -> bool:
    """True when ``out`` holds a complete, verified set of shards; damaged shards (and the
    manifest) are removed so that synthesis rebuilds exactly those."""
    if not (out / "manifest.json").exists():
        return False
    bad = damaged_shards(out)
    if not bad:
        if not quiet:
            print(f"[r4t synthesize] shards: reusing {out} (sizes and checksums verified)", flush=True)
        return True
    # Rebuild only what failed: the good shards are skipped by synthesize(), the manifest is rewritten last.
    print(f"[r4t synthesize] shards: {len(bad)} damaged in {out} ({', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}); "
          "rebuilding them", flush=True)
    for name in bad:
        (out / name).unlink(missing_ok=True)
        sidecar(out / name).unlink(missing_ok=True)
    (out / "manifest.json").unlink()
    return False
