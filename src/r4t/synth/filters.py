"""Which synthesized samples to keep (the paper's "successful trajectories" are left open).

* ``none``          keep everything (default)
* ``threshold``     keep samples whose reward total >= value
* ``top_fraction``  keep the best ``value`` share of each query's samples (at least one)
"""

from __future__ import annotations

import math
from typing import Sequence

from r4t.errors import ConfigError

KINDS = ("none", "threshold", "top_fraction")


def keep_mask(totals: Sequence[float], kind: str = "none", value: float | None = None) -> list[bool]:
    """Keep/drop per sample of ONE query (``totals`` are its samples' rewards)."""
    if kind not in KINDS:
        raise ConfigError(f"synth.filter must be one of {KINDS}, got {kind!r}")
    if kind == "none":
        return [True] * len(totals)
    if value is None:
        raise ConfigError(f"synth.filter {kind!r} needs synth.filter_value")
    if kind == "threshold":
        return [t >= value for t in totals]
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"top_fraction must be in (0, 1], got {value}")
    keep = max(1, math.ceil(len(totals) * value))
    order = sorted(range(len(totals)), key=lambda i: (-totals[i], i))[:keep]
    chosen = set(order)
    return [i in chosen for i in range(len(totals))]
