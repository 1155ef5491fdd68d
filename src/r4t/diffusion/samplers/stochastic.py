"""EDM's stochastic sampler (Karras et al. 2022, Alg. 2): before each Heun step, add fresh
noise to raise sigma by a factor (1 + gamma) ("churn"), which corrects errors of earlier
steps. This is the paper's sampler (256 steps)."""

from __future__ import annotations

import math

import torch

from r4t.diffusion.samplers.base import Denoise, Sampler, noise_device, samplers


@samplers.register("edm_sde")
class EDMStochastic(Sampler):
    """Stochastic EDM sampler with churn (the paper's 256-step SDE solver)."""

    def __init__(self, steps: int = 256, sigma_min: float = 1e-4, sigma_max: float = 80.0, rho: float = 7.0,
                 s_churn: float = 40.0, s_tmin: float = 0.05, s_tmax: float = 50.0, s_noise: float = 1.003,
                 temperature: float = 1.0) -> None:
        super().__init__(steps, sigma_min, sigma_max, rho, temperature)
        self.s_churn, self.s_tmin, self.s_tmax, self.s_noise = s_churn, s_tmin, s_tmax, s_noise

    @property
    def network_calls(self) -> int:
        return 2 * self.steps - 1

    def step(self, denoise: Denoise, x: torch.Tensor, i: int, generator: torch.Generator | None) -> torch.Tensor:
        sigma, nxt = float(self.sigmas[i]), float(self.sigmas[i + 1])
        gamma = min(self.s_churn / self.steps, math.sqrt(2) - 1) if self.s_tmin <= sigma <= self.s_tmax else 0.0
        hat = sigma * (1 + gamma)
        if gamma > 0:
            eps = torch.randn(x.shape, generator=generator, dtype=torch.float64, device=noise_device(generator)).to(x) * self.s_noise
            x = x + math.sqrt(hat**2 - sigma**2) * eps
        hat_t = torch.full((x.shape[0],), hat, device=x.device, dtype=x.dtype)
        d = (x - denoise(x, hat_t)) / hat
        x_next = x + (nxt - hat) * d
        if nxt > 0:
            d2 = (x_next - denoise(x_next, self._sigma(i + 1, x))) / nxt
            x_next = x + (nxt - hat) * 0.5 * (d + d2)
        return x_next
