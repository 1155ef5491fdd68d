"""EDM's deterministic 2nd-order Heun sampler (Karras et al. 2022, Alg. 1): an Euler step
corrected by the slope at its end, except on the last step to sigma = 0."""

from __future__ import annotations

import torch

from r4t.diffusion.samplers.base import Denoise, Sampler, samplers


@samplers.register("heun")
class Heun(Sampler):
    """Deterministic 2nd-order ODE sampler: accurate in few steps (2 calls per step)."""

    @property
    def network_calls(self) -> int:
        return 2 * self.steps - 1

    def step(self, denoise: Denoise, x: torch.Tensor, i: int, generator: torch.Generator | None) -> torch.Tensor:
        sigma, nxt = float(self.sigmas[i]), float(self.sigmas[i + 1])
        d = (x - denoise(x, self._sigma(i, x))) / sigma
        x_next = x + (nxt - sigma) * d
        if nxt > 0:
            d2 = (x_next - denoise(x_next, self._sigma(i + 1, x))) / nxt
            x_next = x + (nxt - sigma) * 0.5 * (d + d2)
        return x_next
