"""Commands that never run a language model do not import transformers, trl or peft: those
imports cost 4-8 s of every `r4t data`, `r4t retrieve` with a diffusion model, and a reused
`r4t rl` / `r4t synthesize` (measured on 2 cores: `r4t data` 10.2 s -> 3.8 s, a reused
`r4t synthesize` 11.8 s -> 3.1 s)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("transformers", "trl", "peft", "datasets")

PROBE = """
import sys
import r4t.cli, r4t.config, r4t.data.prepare, r4t.fanout.stage, r4t.synth.stage, r4t.retrievers
from r4t.components import all_registries
all_registries()
print(",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_stage_and_registry_modules_import_without_transformers():
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "", f"imported at module level: {proc.stdout.strip()}"

