"""Split benchmark queries across ranks under ``torchrun`` (or any launcher that sets
RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT) and gather the sets back on every rank.

Retrieval is the expensive half of a quality benchmark (an LLM writes every fan-out), so
ranks retrieve disjoint query slices; scoring the gathered sets is cheap and happens once.
Without a launcher everything runs in one process. Joining the group: ``r4t.distributed``.
"""

from __future__ import annotations

from typing import Any, Sequence, TypeVar

import torch.distributed as dist

T = TypeVar("T")


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Round-robin slice: rank r takes items r, r + world, ..."""
    return list(items[rank::world])


def gather_sharded(mine: list[Any], rank: int, world: int, total: int) -> list[Any]:
    """Inverse of ``shard``: every rank gets the full list back in the original order."""
    if world <= 1:
        return list(mine)
    parts: list[list[Any] | None] = [None] * world
    dist.all_gather_object(parts, mine)
    out: list[Any] = [None] * total
    for r, part in enumerate(parts):
        assert part is not None
        out[r::world] = part
    return out
