"""Samplers for EDM set diffusion (registry ``samplers``), one algorithm per file."""

from r4t.diffusion.samplers import dpm_solver as _dpm_solver  # noqa: F401  (registers dpmpp_2m)
from r4t.diffusion.samplers import euler as _euler  # noqa: F401  (registers euler)
from r4t.diffusion.samplers import heun as _heun  # noqa: F401  (registers heun)
from r4t.diffusion.samplers import stochastic as _stochastic  # noqa: F401  (registers edm_sde)
from r4t.diffusion.samplers.base import Denoise, Sampler, karras_sigmas, samplers

__all__ = ["Denoise", "Sampler", "karras_sigmas", "samplers"]
