"""The backbone contract and its registry."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from r4t.registry import Registry

backbones: Registry = Registry("backbones", entry_point_group="r4t.backbones")


class Backbone(nn.Module):
    """F(x [B, L, d], noise [B], cond [B, d], cond_mask [B]) -> [B, L, d].

    ``cond_mask`` is False where the condition is dropped (classifier-free guidance);
    the backbone replaces it with a learned null embedding.
    """

    def __init__(self, dim: int, set_size: int) -> None:
        super().__init__()
        self.dim, self.set_size = dim, set_size

    def bind(self, cond: torch.Tensor, cond_mask: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, noise) -> F(x, noise, cond, cond_mask)`` with the condition fixed.

        Every network call of one sampling run shares the condition, so a backbone may
        override this to precompute what depends on it alone (serving fast paths). The
        result must equal ``forward`` up to float rounding; this default simply calls it.
        """
        return lambda x, noise: self(x, noise, cond, cond_mask)


def scale_condition(cond: torch.Tensor) -> torch.Tensor:
    """Unit-norm query embeddings have entries of size ~1/sqrt(d) (0.05 for d = 384), about
    20x smaller than the unit-variance rows the network sees; at that scale it learns to
    ignore the query. Multiplying by sqrt(d) gives unit-variance entries."""
    return cond * cond.shape[-1] ** 0.5


class NoiseEmbedding(nn.Module):
    """Fourier features of c_noise followed by an MLP (as in EDM/DDPM++)."""

    freqs: torch.Tensor  # a non-persistent buffer

    def __init__(self, width: int, num_freqs: int = 64) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(1000.0), num_freqs)), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * num_freqs, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        angles = noise[:, None] * self.freqs[None]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))
