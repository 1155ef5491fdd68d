"""transformers Trainer callbacks of the RL stage: per-step metrics that survive a crash, and
the crash-test failpoint. Their own module so that importing the stage does not import
transformers' trainer (and peft through it): seconds that a reused RL policy never needs."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from r4t.runs import failpoint


class CSVMetricsCallback(TrainerCallback):
    """trl's per-step logs appended to metrics.csv as they happen (survives a crash)."""

    def __init__(self, path: Path, grounding: Any = None) -> None:
        self.path, self.grounding = path, grounding

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "reward" not in logs or not state.is_world_process_zero:  # one writer under N processes
            return
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
        if self.grounding is not None:
            rate = self.grounding.interval_failure_rate()
            row["parse_failure_rate"] = "" if rate is None else rate
        new = not self.path.exists()
        with open(self.path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=sorted(row), extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


class FailpointCallback(TrainerCallback):
    """``R4T_FAILPOINT=rl:saved:<step>`` dies right after checkpoint <step> is on disk (crash tests)."""

    def on_save(self, args, state, control, **kwargs):
        failpoint(f"rl:saved:{state.global_step}")
