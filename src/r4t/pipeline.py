"""The stages behind a config, in order: data -> RL policy -> shards, each cached under ``run_dir``.

One object, built from the config's sections and checked when it is built, owns what each
stage reads and where its output goes. The CLI calls it (``r4t data``, ``r4t rl``,
``r4t synthesize``, and LightningCLI's ``before_fit`` for a fit on synthesized shards); no
datamodule hook orchestrates stages. ``ensure(stage)`` builds what is missing and returns the
output folder with the wall seconds of every stage it ran (synthesis 0 when verified shards are reused), so callers
report times without a module-level record.

    from r4t.pipeline import Pipeline
    run = Pipeline(load_config("configs/music.yaml")).ensure("shards")
    run.path, run.seconds   # the shard folder, {"data": s, "RL policy": s, "synthesis": s}
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from r4t.data.prepare import DataConfig, PreparedData, prepare_data
from r4t.distributed import main_process_first
from r4t.errors import ConfigError
from r4t.sections import checked_section
from r4t.stage_configs import PolicyConfig, RLConfig, SynthConfig

STAGES = ("data", "rl", "shards")


@dataclass
class StageRun:
    """What ``Pipeline.ensure`` made or found: the stage's output and the seconds of each stage it ran."""

    path: Path
    seconds: dict[str, float] = field(default_factory=dict)

    def report(self) -> str:
        return ", ".join(f"{name} {s:.1f}s" for name, s in self.seconds.items())


class Pipeline:
    """The typed sections of one config and the stages they define (see the module docstring)."""

    def __init__(self, sections: Mapping[str, Any], data: PreparedData | None = None) -> None:
        """``data``: this config's prepared data when the caller already holds it (not loaded twice)."""
        self.sections = dict(sections)
        self.run_dir = Path(str(self.sections.get("run_dir") or "runs/default"))
        self.data_config = DataConfig.from_mapping(self.sections)
        self.policy: PolicyConfig = checked_section(PolicyConfig, self.sections.get("policy"), "policy")
        self.rl: RLConfig = checked_section(RLConfig, self.sections.get("rl"), "rl")
        self.synth: SynthConfig = checked_section(SynthConfig, self.sections.get("synth"), "synth")
        self.reward: Mapping[str, Any] | None = self.sections.get("reward")
        self._data = data

    def with_rl_steps(self, steps: int) -> "Pipeline":
        """The same pipeline with ``rl.steps`` replaced (``r4t rl --steps``), range-checked like the YAML."""
        if steps < 0:
            raise ConfigError(f"--steps: must be >= 0, got {steps}")
        other = copy.copy(self)  # shares the loaded data
        other.rl = replace(self.rl, steps=steps)
        return other

    # ------------------------------------------------------------------ stage outputs (nothing built)
    def data(self, quiet: bool = False, rank: int = 0, world: int = 1) -> PreparedData:
        """Catalog, embeddings and indexes (built by rank 0 first when ``world`` > 1), loaded once per object."""
        if self._data is None:
            with main_process_first(rank, world):
                self._data = prepare_data(self.data_config, quiet=quiet or rank != 0)
        return self._data

    def rl_policy_dir(self) -> Path:
        """Where the RL policy of this config lives (the warm start's folder when ``rl.steps`` is 0)."""
        from r4t.fanout.stage import rl_policy_dir

        return rl_policy_dir(self.data(quiet=True), self.policy, self.rl, self.reward, self.run_dir)

    def shards_dir(self) -> Path:
        """Where this config's shards live, whether or not they exist yet."""
        from r4t.synth.stage import shards_dir

        return shards_dir(self.run_dir, self.rl_policy_dir(), self.data(quiet=True), self.synth_config(), self.rl.regime, self.reward)

    def shards_ready(self) -> bool:
        return (self.shards_dir() / "manifest.json").exists()

    def synth_config(self) -> SynthConfig:
        """The synthesis section (its ``set_size`` is always set: the field's default is 10)."""
        return self.synth

    # ------------------------------------------------------------------ building
    def ensure(self, stage: str, rank: int = 0, world: int = 1, group: bool = False) -> StageRun:
        """Build (or reuse) ``stage`` and every stage before it.

        ``rank``/``world``: this process's place among N processes. With ``group`` (a launcher's
        process group) RL trains on all ranks together and synthesis writes shards j with
        j % world == rank, rank 0 writing the manifest after every rank; without it the ranks are
        independent processes (``r4t synthesize --rank/--world_size``).
        """
        if stage not in STAGES:
            raise ConfigError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        t0 = time.perf_counter()
        data = self.data(rank=rank, world=world if group else 1)
        seconds = {"data": time.perf_counter() - t0}
        if stage == "data":
            return StageRun(data.paths.get("catalog", self.run_dir), seconds)
        from r4t.fanout.stage import run_rl

        t0 = time.perf_counter()
        policy_dir = run_rl(data, self.policy, self.rl, self.reward, self.run_dir)
        seconds["RL policy"] = time.perf_counter() - t0
        if stage == "rl":
            return StageRun(policy_dir, seconds)
        from r4t.synth.stage import write_shards

        t0 = time.perf_counter()
        out, reused = write_shards(data, policy_dir, self.policy, self.rl, self.synth_config(), self.reward, self.run_dir,
                                   rank=rank, world_size=world, group=group)
        seconds["synthesis"] = 0.0 if reused else time.perf_counter() - t0  # reuse: only checksums were read
        return StageRun(out, seconds)
