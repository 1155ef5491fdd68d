"""Seeded blocks that leave the caller's random stream alone.

Library code (a policy's sampling, a model's random initialisation, the warm-start's batches)
needs reproducible draws, but the process-wide RNG belongs to the caller: ``seed_everything``
seeds it once and Lightning draws training noise from it. Seeding it globally inside a stage
made the diffusion training of ``r4t fit`` differ between a run that built the stages and one
that reused their caches. ``seeded`` forks torch's RNG for the block and restores it after.
"""

from __future__ import annotations

import random
from contextlib import contextmanager, nullcontext
from typing import ContextManager, Iterator

import numpy as np
import torch


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's CPU (and CUDA) generators seeded with ``seed`` inside the block, restored after it."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def seeded_or_not(seed: int | None) -> ContextManager[None]:
    """``seeded(seed)``, or nothing when no seed is given (the caller's stream is used)."""
    return nullcontext() if seed is None else seeded(seed)


@contextmanager
def caller_rng_preserved() -> Iterator[None]:
    """For third-party code that seeds the process-wide generators itself (transformers'
    Trainer calls ``set_seed``): Python's, NumPy's and torch's states are restored after the block."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
