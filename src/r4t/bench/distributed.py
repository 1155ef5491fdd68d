"""Split benchmark queries across ranks under ``torchrun`` (or any launcher that sets
RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT) and gather the sets back on every rank.

Retrieval is the expensive half of a quality benchmark (an LLM writes every fan-out), so
ranks retrieve disjoint query slices; scoring the gathered sets is cheap and happens once.
Without a launcher everything runs in one process.
"""

from __future__ import annotations

import os
from typing import Any, Sequence, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def init_from_env(device: str = "cpu") -> tuple[int, int]:
    """(rank, world_size); joins the process group torchrun describes, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if device == "cuda" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


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


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()
