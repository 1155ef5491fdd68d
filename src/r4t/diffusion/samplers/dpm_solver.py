"""DPM-Solver++(2M) (Lu et al. 2022; k-diffusion's ``sample_dpmpp_2m``, diffusers'
``DPMSolverMultistepScheduler``): second order at ONE network call per step.

Heun buys second order with a second call per step. The multistep solver instead reuses the
previous step's denoised estimate: in log-sigma time t = -log(sigma), with h = t_next - t,

    D' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1},   r = h_{i-1} / h
    x_next = (sigma_next / sigma) x - expm1(-h) D'

The first step (no history yet) and the last (to sigma = 0, where x_next = D) are first
order, i.e. exactly the Euler/DDIM step, so with the same steps it costs what Euler costs.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import torch

from r4t.diffusion.samplers.base import Denoise, Sampler, samplers


@samplers.register("dpmpp_2m")
class DPMSolverPP2M(Sampler):
    """Deterministic 2nd-order multistep ODE sampler: Heun-like accuracy at Euler's cost."""

    def __init__(self, steps: int = 8, sigma_min: float = 1e-4, sigma_max: float = 80.0, rho: float = 7.0,
                 temperature: float = 1.0) -> None:
        super().__init__(steps, sigma_min, sigma_max, rho, temperature)
        # The multistep history: (step index, denoised estimate) of the last step taken. Used
        # only by step i + 1, so a fresh run (i = 0) or a caller that skips steps never picks
        # up a stale estimate; kept per thread, so one retriever can serve concurrent requests.
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_local"]  # a thread's history does not travel (and threading.local cannot be pickled)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def step(self, denoise: Denoise, x: torch.Tensor, i: int, generator: torch.Generator | None) -> torch.Tensor:
        sigma, nxt = float(self.sigmas[i]), float(self.sigmas[i + 1])
        denoised = denoise(x, self._sigma(i, x))
        previous: tuple[int, torch.Tensor] | None = getattr(self._local, "history", None)
        self._local.history = (i, denoised) if nxt > 0 else None
        if nxt == 0:
            return denoised
        h = math.log(sigma / nxt)
        estimate = denoised
        if previous is not None and previous[0] == i - 1 and previous[1].shape == denoised.shape:
            h_last = math.log(float(self.sigmas[i - 1]) / sigma)
            half_inv_r = h / (2 * h_last)
            estimate = torch.lerp(denoised, previous[1], -half_inv_r)  # (1 + 1/2r) D_i - 1/2r D_{i-1}
        return torch.add(x * (nxt / sigma), estimate, alpha=-math.expm1(-h))
