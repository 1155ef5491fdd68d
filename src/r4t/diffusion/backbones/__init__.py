"""Denoiser backbones F(x, c_noise, z_q) -> residual, registry ``backbones``."""

from r4t.diffusion.backbones import candidate_transformer as _candidate_transformer  # noqa: F401  (registers)
from r4t.diffusion.backbones import coherent_transformer as _coherent_transformer  # noqa: F401  (registers)
from r4t.diffusion.backbones import mlp as _mlp  # noqa: F401  (registers)
from r4t.diffusion.backbones.base import Backbone, backbones

__all__ = ["Backbone", "backbones"]
