"""The EDM-preconditioned denoiser D(x; sigma, z_q): plain torch, used for serving."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from r4t.diffusion import edm
from r4t.diffusion.backbones.base import Backbone
from r4t.inference.fast_paths import bind_backbone


class SetDenoiser(nn.Module):
    """Predicts the clean set Z [B, L, d] from a noisy one at noise level sigma [B].

    ``query_anchor`` = a > 0 runs the diffusion on the residual Z - a * z_q (the noise is
    additive, so this is the same process shifted by the query). Its prior mean is then the
    query itself rather than the average training set, which is what lets a model trained on
    a few hundred intents stay on topic for an unseen one; a = 0 is the plain EDM denoiser.
    """

    def __init__(self, backbone: Backbone, sigma_data: float, query_anchor: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.sigma_data = float(sigma_data)
        self.query_anchor = float(query_anchor)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor | None = None) -> torch.Tensor:
        if cond_mask is None:
            cond_mask = torch.ones(len(x), dtype=torch.bool, device=x.device)
        s = sigma.reshape(-1, 1, 1).to(x.dtype)
        anchor = self.query_anchor * cond[:, None, :].to(x.dtype) if self.query_anchor else 0.0
        x = x - anchor
        f = self.backbone(edm.c_in(s, self.sigma_data) * x, edm.c_noise(sigma.to(x.dtype)), cond, cond_mask)
        return anchor + edm.c_skip(s, self.sigma_data) * x + edm.c_out(s, self.sigma_data) * f

    def bind(self, cond: torch.Tensor, cond_mask: torch.Tensor | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, sigma) -> D(x; sigma, cond)`` for one sampling run: the backbone precomputes
        what depends on the condition alone once (``r4t.inference.fast_paths``); equal to ``forward``."""
        if cond_mask is None:
            cond_mask = torch.ones(len(cond), dtype=torch.bool, device=cond.device)
        network = bind_backbone(self.backbone, cond, cond_mask)
        anchor = self.query_anchor * cond[:, None, :] if self.query_anchor else None

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            # forward's arithmetic with the anchor folded into [B, 1, d] terms: two full-size
            # elementwise ops besides the network instead of five.
            s = sigma.reshape(-1, 1, 1).to(x.dtype)
            c_in, c_skip = edm.c_in(s, self.sigma_data), edm.c_skip(s, self.sigma_data)
            if anchor is None:
                f = network(c_in * x, edm.c_noise(sigma.to(x.dtype)))
                return torch.addcmul(c_skip * x, edm.c_out(s, self.sigma_data), f)
            a = anchor.to(x.dtype)
            f = network(torch.addcmul(-c_in * a, c_in, x), edm.c_noise(sigma.to(x.dtype)))
            return torch.addcmul(torch.addcmul((1 - c_skip) * a, c_skip, x), edm.c_out(s, self.sigma_data), f)

        return denoise
