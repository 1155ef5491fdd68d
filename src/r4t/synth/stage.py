"""Stage (ii) orchestration: RL policy (built if missing) -> shards, cached under
``<run_dir>/cache/shards/<hash>``."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

from r4t.data.prepare import PreparedData
from r4t.fanout.policy import load_policy
from r4t.fanout.stage import PolicyConfig, RLConfig, section_config, rl_reward, run_rl
from r4t.runs import config_hash
from r4t.synth.transducer import SynthConfig, synthesize


STAGE_SECONDS: dict[str, float] = {}  # wall time of the last shards_for call's stages (printed by `r4t fit`)


def shards_for(data: PreparedData, cfg: Mapping[str, Any], rank: int = 0, world_size: int = 1) -> Path:
    """Build (or reuse) the RL policy and the shards for config ``cfg``; returns the shard folder."""
    policy_cfg, rl_cfg = section_config(PolicyConfig, cfg.get("policy"), "policy"), section_config(RLConfig, cfg.get("rl"), "rl")
    synth_cfg = section_config(SynthConfig, cfg.get("synth"), "synth")
    synth_cfg.set_size = synth_cfg.set_size or policy_cfg.k
    run_dir = cfg.get("run_dir", "runs/default")
    t0 = time.perf_counter()
    policy_dir = run_rl(data, policy_cfg, rl_cfg, cfg.get("reward"), run_dir)
    STAGE_SECONDS["RL policy"] = time.perf_counter() - t0
    out = Path(run_dir) / "cache" / "shards" / config_hash(str(policy_dir), data.catalog.fingerprint(), data.vectors_id, asdict(synth_cfg),
                                                      rl_cfg.regime, cfg.get("reward"))
    if (out / "manifest.json").exists():
        STAGE_SECONDS["synthesis"] = 0.0
        print(f"[r4t synthesize] shards: reusing {out}", flush=True)
        return out
    t0 = time.perf_counter()
    policy = load_policy(str(policy_dir), domain=data.catalog.domain, k=policy_cfg.k)
    stats = synthesize(data, policy, rl_reward(cfg.get("reward"), rl_cfg), synth_cfg, out, rl_cfg.regime,
                       policy_id=str(policy_dir), rank=rank, world_size=world_size)
    STAGE_SECONDS["synthesis"] = time.perf_counter() - t0
    rate = stats["written_now"] / max(stats["seconds"], 1e-9)
    print(f"[r4t synthesize] rank {rank}/{world_size}: {stats['written_now']} samples in {stats['seconds']:.1f}s "
          f"({rate:.1f} samples/s), {stats['unparsable_now']} unparsable fan-outs dropped -> {out}", flush=True)
    return out
