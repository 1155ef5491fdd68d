"""Run under torchrun (2 processes, gloo) by test_rl_launched.py: the Soft-GRPO loss of one fixed
batch, split over the ranks and trained with DDP, gives the loss and gradient of the whole batch
in one process (the data-parallel invariant trl's multi-process GRPO relies on)."""

import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from r4t.distributed import init_from_env
from r4t.fanout.grpo import soft_grpo_loss
from r4t.retrievers.latency_only import build_random_lm


def logps(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=ids).logits[:, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)


def step(model: torch.nn.Module, ids, mask, adv, old) -> torch.Tensor:
    lp = logps(model, ids)
    return soft_grpo_loss(lp, old, adv, mask)


def main() -> int:
    rank, world = init_from_env("cpu")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 512, (8, 12), generator=g)  # 8 completions: the whole step's batch
    mask = (torch.rand(8, 11, generator=g) > 0.3).float()
    adv = torch.randn(8, generator=g)
    reference = build_random_lm("test-tiny", seed=0)
    old = logps(reference, ids).detach() + 0.05 * torch.randn(8, 11, generator=g)  # pi_old != pi_theta: clipping and penalties act
    full = step(reference, ids, mask, adv, old)
    full.backward()
    model = DistributedDataParallel(build_random_lm("test-tiny", seed=0))
    part = slice(rank * 8 // world, (rank + 1) * 8 // world)
    loss = step(model, ids[part], mask[part], adv[part], old[part])
    loss.backward()  # DDP averages the gradients over the ranks
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    mean_loss /= world
    grad_gap = max(float((a.grad - b.grad).abs().max()) for a, b in zip(reference.parameters(), model.module.parameters()))
    loss_gap = abs(float(mean_loss - full.detach()))
    if rank == 0:
        print(f"ranks {world}: loss {float(mean_loss):.6f} vs one process {float(full.detach()):.6f}; max gradient difference {grad_gap:.2e}")
    return 0 if grad_gap < 1e-6 and loss_gap < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
