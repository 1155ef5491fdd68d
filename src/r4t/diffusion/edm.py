"""EDM (Karras et al. 2022) preconditioning, loss weight and training noise levels.

The network F sees a scaled noisy input and predicts a residual; the denoiser is
    D(x; sigma) = c_skip * x + c_out * F(c_in * x, c_noise)
so D predicts the clean set Z directly at every noise level (what the paper trains),
with unit-variance inputs and targets for F. The loss weight (sigma^2 + sd^2) / (sigma*sd)^2
makes the effective target of F unit-variance at every sigma.
"""

from __future__ import annotations

import math

import torch


def c_skip(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    return sigma_data**2 / (sigma**2 + sigma_data**2)


def c_out(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    return sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()


def c_in(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    return 1.0 / (sigma**2 + sigma_data**2).sqrt()


def c_noise(sigma: torch.Tensor) -> torch.Tensor:
    return sigma.log() / 4.0


def loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def sample_training_sigma(
    n: int,
    kind: str = "lognormal",
    p_mean: float = -1.2,
    p_std: float = 1.2,
    sigma_min: float = 1e-4,
    sigma_max: float = 80.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Noise levels for training: EDM's log-normal, or the tangent schedule
    sigma = tan(u * pi/2) for u ~ U(0, 1), clipped to [sigma_min, sigma_max]."""
    if kind == "lognormal":
        sigma = (torch.randn(n, generator=generator) * p_std + p_mean).exp()
    elif kind == "tangent":
        lo, hi = math.atan(sigma_min) * 2 / math.pi, math.atan(sigma_max) * 2 / math.pi
        u = torch.rand(n, generator=generator) * (hi - lo) + lo
        sigma = torch.tan(u * math.pi / 2)
    else:
        raise ValueError(f"unknown training noise distribution {kind!r}; use 'lognormal' or 'tangent'")
    return sigma.clamp(sigma_min, sigma_max).to(device)
