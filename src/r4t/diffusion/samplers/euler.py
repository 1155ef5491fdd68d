"""Euler on the probability-flow ODE: one network call per step; with few steps this is the
DDIM-like few-step sampler."""

from __future__ import annotations

import torch

from r4t.diffusion.samplers.base import Denoise, Sampler, samplers


@samplers.register("euler")
class Euler(Sampler):
    """First-order ODE sampler (DDIM-like): x += (sigma_next - sigma) * (x - D(x)) / sigma."""

    def step(self, denoise: Denoise, x: torch.Tensor, i: int, generator: torch.Generator | None) -> torch.Tensor:
        sigma, nxt = float(self.sigmas[i]), float(self.sigmas[i + 1])
        d = (x - denoise(x, self._sigma(i, x))) / sigma
        return x + (nxt - sigma) * d
