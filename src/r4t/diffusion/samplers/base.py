"""The sampler contract, diffusers-style: ``set_timesteps(n)`` fixes the noise levels and
``step`` moves a sample from one level to the next. A sampler only ever calls
``denoise(x, sigma) -> estimate of the clean set``, so swapping samplers never touches
the model (classifier-free guidance is folded into ``denoise`` by the caller).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch

from r4t.errors import ConfigError
from r4t.registry import Registry

samplers: Registry = Registry("samplers", entry_point_group="r4t.samplers")
Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """EDM's noise levels: n levels from sigma_max to sigma_min spaced evenly in sigma^(1/rho),
    then a final 0."""
    if n < 1:
        raise ConfigError(f"sampler steps must be >= 1, got {n}")
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    inv = sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))
    return torch.cat([inv**rho, torch.zeros(1, dtype=torch.float64)])



def noise_device(generator: torch.Generator | None) -> torch.device:
    """Where sampling noise is drawn: on the generator's device (CPU without one)."""
    return generator.device if generator is not None else torch.device("cpu")

class Sampler(ABC):
    """Integrates the probability-flow ODE (or SDE) from sigma_max down to 0."""

    def __init__(self, steps: int = 32, sigma_min: float = 1e-4, sigma_max: float = 80.0, rho: float = 7.0,
                 temperature: float = 1.0) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ConfigError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        if not temperature > 0:
            raise ConfigError(f"sampler temperature must be > 0, got {temperature}")
        self.sigma_min, self.sigma_max, self.rho = sigma_min, sigma_max, rho
        self.temperature = float(temperature)
        self.set_timesteps(steps)

    def set_timesteps(self, steps: int) -> None:
        self.steps = steps
        self.sigmas = karras_sigmas(steps, self.sigma_min, self.sigma_max, self.rho)

    @abstractmethod
    def step(self, denoise: Denoise, x: torch.Tensor, i: int, generator: torch.Generator | None) -> torch.Tensor:
        """x at sigmas[i] -> x at sigmas[i + 1]."""

    @property
    def network_calls(self) -> int:
        """Denoiser evaluations per sample (what sampling latency scales with)."""
        return self.steps

    @torch.no_grad()
    def sample(self, denoise: Denoise, shape: tuple[int, ...], generator: torch.Generator | None = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Draw x ~ N(0, (temperature * sigma_max)^2) and integrate to sigma = 0: all rows at once.

        temperature is the flow-model temperature of the prior: the ODE maps wider starting
        noise to rows spread further from the query, i.e. more diverse and less aligned sets
        (1 = the model's own distribution; measured trade-off in benchmarks/results/sampler_*).
        """
        scale = self.sigmas[0].item() * self.temperature
        # Drawn on the generator's device in the working dtype: a float64 draw cast down cost
        # 0.55 ms of a batch-8 run's ~9 on CPU, against 0.09 ms for float32. A CUDA generator
        # draws on the GPU (no host draw and copy per call); a CPU one keeps CPU results bit-identical.
        x = torch.randn(shape, generator=generator, dtype=dtype, device=noise_device(generator)).to(device) * scale
        for i in range(self.steps):
            x = self.step(denoise, x, i, generator)
        return x

    def _sigma(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), float(self.sigmas[i]), device=x.device, dtype=x.dtype)
