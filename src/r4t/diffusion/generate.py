"""Generate whole sets in one sampling run with classifier-free guidance (plain torch).

Guided denoiser: D_w(x) = D(x | z_q) + w * (D(x | z_q) - D(x | null)); the conditional
and unconditional passes share one batched network call. The paper uses w = 0.1.

Repulsion (particle guidance, Corso et al. 2024, in the clean-set estimate): the L rows of one
set are sampled jointly, but nothing at sampling time keeps two rows from settling on the same
neighbourhood of the query. With strength g > 0 every step's estimate moves each row away
from the kernel-weighted mean of its set-mates:

    D_i <- D_i + g * (D_i - sum_j k_ij D_j / sum_j k_ij),   k_ij = exp(-|D_i - D_j|^2 / h), j != i

with h the set's median squared row distance / log(L) (SVGD's bandwidth rule), so g is
scale-free: the push is a share of how far a row already is from its nearest set-mates.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from r4t.diffusion.denoiser import SetDenoiser
from r4t.diffusion.samplers import Sampler
from r4t.errors import ConfigError


def _bind(denoiser: SetDenoiser, cond: torch.Tensor, cond_mask: torch.Tensor | None = None
          ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The denoiser with its condition fixed for the run (its fast path, see SetDenoiser.bind);
    any module with SetDenoiser's call signature works too."""
    if hasattr(denoiser, "bind"):
        return denoiser.bind(cond, cond_mask)
    return lambda x, sigma: denoiser(x, sigma, cond, cond_mask)


@torch.inference_mode()  # not just no_grad: skips version counting, ~6% faster per batch-8 run on CPU
def generate_sets(
    denoiser: SetDenoiser, cond: torch.Tensor, set_size: int, sampler: Sampler,
    guidance: float = 0.1, generator: torch.Generator | None = None, repulsion: float = 0.0,
) -> torch.Tensor:
    """[B, d] query embeddings -> [B, set_size, d] generated rows."""
    if repulsion < 0:
        raise ConfigError(f"repulsion must be >= 0, got {repulsion}")
    b, d = cond.shape
    device = cond.device
    if guidance == 0.0:
        denoise = _bind(denoiser, cond)
    else:
        # The conditional and unconditional passes share one batched network call.
        mask = torch.cat([torch.ones(b, dtype=torch.bool, device=device), torch.zeros(b, dtype=torch.bool, device=device)])
        both_passes = _bind(denoiser, torch.cat([cond, cond]), mask)

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            both = both_passes(torch.cat([x, x]), torch.cat([sigma, sigma]))
            conditional, unconditional = both[:b], both[b:]
            return conditional + guidance * (conditional - unconditional)

    if repulsion > 0.0 and set_size > 1:
        guided = denoise

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            return repel_rows(guided(x, sigma), repulsion)

    return sampler.sample(denoise, (b, set_size, d), generator=generator, device=device, dtype=cond.dtype)


def repel_rows(rows: torch.Tensor, strength: float) -> torch.Tensor:
    """[B, L, d] -> the rows pushed apart within each set (see the module docstring).

    Costs one [L, L] kernel per set (B * L^2 * d flops, against the network's B * L * width^2
    per call). A set whose rows all coincide has no direction to push along and is returned as is.
    """
    b, length, _ = rows.shape
    if length < 2:
        return rows
    sq = torch.cdist(rows, rows).square()  # [B, L, L]
    off_diagonal = ~torch.eye(length, dtype=torch.bool, device=rows.device)
    median = sq[:, off_diagonal].median(dim=1).values  # [B]
    bandwidth = (median / math.log(length)).clamp_min(torch.finfo(rows.dtype).tiny).reshape(b, 1, 1)
    kernel = torch.exp(-sq / bandwidth) * off_diagonal
    weights = kernel / kernel.sum(dim=2, keepdim=True).clamp_min(torch.finfo(rows.dtype).tiny)
    return rows + strength * (rows - weights @ rows)
