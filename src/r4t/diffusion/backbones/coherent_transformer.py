"""The paper's "coherent transformer": set rows as tokens, no positional embedding.

Without positions, self-attention is permutation-equivariant over rows, which is what
an order-free set needs. Each block: self-attention over rows, cross-attention to the
query (and noise) tokens, MLP; pre-norm with adaptive scale/shift from the noise level.
Paper size: depth 6, width 1024, mlp 1024, 16 heads (about 54M parameters).
Serving runs it through an exact fused fast path, ``r4t.inference.coherent_transformer``.
"""

from __future__ import annotations

import torch
from torch import nn

from r4t.diffusion.backbones.base import Backbone, NoiseEmbedding, backbones, scale_condition


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.self_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, mlp), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp, width))
        self.ada = nn.Linear(width, 2 * width)  # scale/shift from the noise embedding
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        scale, shift = self.ada(t)[:, None].chunk(2, dim=-1)
        h = self.norm1(x) * (1 + scale) + shift
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x)
        x = x + self.cross_attn(h, context, context, need_weights=False)[0]
        return x + self.mlp(self.norm3(x))


@backbones.register("coherent_transformer")
class CoherentTransformer(Backbone):
    """Permutation-equivariant transformer over set rows with cross-attention to the query."""

    def __init__(self, dim: int, set_size: int, depth: int = 3, width: int = 256, mlp: int = 512, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__(dim, set_size)
        self.inp = nn.Linear(dim, width)
        self.cond = nn.Linear(dim, width)
        self.null_cond = nn.Parameter(torch.zeros(width))
        self.noise = NoiseEmbedding(width)
        self.blocks = nn.ModuleList(_Block(width, heads, mlp, dropout) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, dim)

    def forward(self, x: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        return self.run(x, noise, cond, cond_mask)

    def run(self, x: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor,
            extra_context: torch.Tensor | None = None) -> torch.Tensor:
        """``forward``, with optional context tokens [B, M, width] after the query and noise tokens
        (``candidate_transformer`` adds the query's catalog neighbourhood there)."""
        t = self.noise(noise)
        c = torch.where(cond_mask[:, None], self.cond(scale_condition(cond)), self.null_cond.expand(len(cond), -1))
        context = torch.stack([c, t], dim=1)  # the query token and the noise token
        if extra_context is not None:
            context = torch.cat([context, extra_context], dim=1)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, context, t)
        return self.out(self.out_norm(h))
