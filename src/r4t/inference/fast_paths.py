"""Which serving fast path a backbone gets: the models stay plain, inference wraps them from outside.

A fast path is registered for an exact backbone class (a subclass may change ``forward``, so it
does not inherit one) and is used only where it is exact: eval mode with gradients off. Anything
else, including a plugin backbone, goes through ``Backbone.bind`` (which a plugin may override).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from r4t.diffusion.backbones.base import Backbone
from r4t.diffusion.backbones.coherent_transformer import CoherentTransformer
from r4t.inference import coherent_transformer as _coherent

Network = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

FAST_PATHS: dict[type, Callable[[Any, torch.Tensor, torch.Tensor], Network]] = {CoherentTransformer: _coherent.bind}


def bind_backbone(backbone: Backbone, cond: torch.Tensor, cond_mask: torch.Tensor) -> Network:
    """``(x, noise) -> backbone(x, noise, cond, cond_mask)`` for one sampling run, as fast as is exact."""
    fast = FAST_PATHS.get(type(backbone))
    if fast is None or backbone.training or torch.is_grad_enabled():
        return backbone.bind(cond, cond_mask)
    return fast(backbone, cond, cond_mask)
