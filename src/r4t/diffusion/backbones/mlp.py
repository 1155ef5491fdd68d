"""A flattened-set MLP: the order-dependent baseline the set transformer is compared to."""

from __future__ import annotations

import torch
from torch import nn

from r4t.diffusion.backbones.base import Backbone, NoiseEmbedding, backbones, scale_condition


@backbones.register("mlp")
class SetMLP(Backbone):
    """Residual MLP on the flattened L*d set, conditioned on query and noise by concatenation."""

    def __init__(self, dim: int, set_size: int, width: int = 1024, depth: int = 3, dropout: float = 0.1) -> None:
        super().__init__(dim, set_size)
        self.inp = nn.Linear(dim * set_size, width)
        self.cond = nn.Linear(dim, width)
        self.null_cond = nn.Parameter(torch.zeros(width))
        self.noise = NoiseEmbedding(width)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU(), nn.Dropout(dropout)) for _ in range(depth)
        )
        self.out = nn.Linear(width, dim * set_size)

    def forward(self, x: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        b = len(x)
        c = torch.where(cond_mask[:, None], self.cond(scale_condition(cond)), self.null_cond.expand(b, -1))
        h = self.inp(x.reshape(b, -1)) + c + self.noise(noise)
        for layer in self.layers:
            h = h + layer(h)
        return self.out(h).reshape(b, self.set_size, self.dim)
