"""Process-group facts for stages launched on N processes (torchrun, ``accelerate launch``).

r4t schedules nothing itself: a launcher starts N copies of one command and sets RANK /
WORLD_SIZE / MASTER_ADDR / MASTER_PORT. Each stage then joins the process group those
variables describe (gloo on CPU, NCCL on GPUs); trl's accelerate state and Lightning reuse
a group that already exists. Caches that every rank needs (catalog, embeddings, indexes,
the warm-start policy) are built by rank 0 first while the others wait, then read by all.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.distributed as dist


def env_world() -> tuple[int, int]:
    """(rank, world size) as the launcher set them; (0, 1) without a launcher."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device: str | None = None) -> tuple[int, int]:
    """(rank, world_size); joins the process group the launcher describes, if any (NCCL for a
    CUDA ``device``, gloo otherwise; ``None``: CUDA when there is one)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
        backend = "nccl" if cuda else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


@contextmanager
def main_process_first(rank: int, world: int) -> Iterator[None]:
    """Rank 0 runs the block first (building a cache), the others after it (reading it)."""
    if rank != 0:
        barrier(world)
    yield
    if rank == 0:
        barrier(world)
