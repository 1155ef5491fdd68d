"""Pre-packed oneDNN matrix products for float32 inference on CPU.

A linear layer ``x @ W.T + b`` in eager PyTorch calls MKL's sgemm, which reorders ``W`` into
its blocked layout on every call. For serving-size inputs that reorder is a large part of
the work: on the 2-core reference machine a batch-8 MiniLM query encode (72 tokens) spent
13 of its 17 ms in ``addmm``. Reordering each weight once, the way ``torch.compile``'s CPU
"freezing" pass does (``mkldnn._reorder_linear_weight`` + ``mkldnn._linear_pointwise``),
made the same layers 2-2.6x faster and the encode 2x faster, with no compiler and no
warm-up. Results equal ``F.linear`` up to float32 rounding (summation order).

The packed product has a fixed cost of about 15 us, so tiny products (fewer than
``MIN_WORK`` multiply-adds, e.g. 8 rows x 128 x 128) stay on ``F.linear``, as does anything
the packed kernel would change the meaning of: gradients, autocast, other dtypes/devices.
``R4T_CPU_PREPACK=0`` turns the fast path off process-wide (the reference path for
comparisons). The private ops are probed once; a torch build without them falls back.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.weak import WeakIdKeyDictionary

ENV = "R4T_CPU_PREPACK"
# Below this many multiply-adds (rows x in x out) the packed kernel's fixed cost outweighs its
# gain: break-even measured between 0.8M and 1.3M on the reference machine (AVX512).
MIN_WORK = 1_000_000
ACTIVATIONS = {None: ("none", ""), "gelu": ("gelu", "none")}  # "none" = exact erf GELU, as nn.GELU()


@functools.lru_cache(maxsize=1)
def prepack_available() -> bool:
    """True when this torch build has oneDNN's packed linear and it agrees with F.linear."""
    if os.environ.get(ENV, "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        g = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(s, generator=g) for s in ((4, 3, 64), (32, 64), (32,)))
        with torch.inference_mode():
            packed = torch.ops.mkldnn._reorder_linear_weight(w, None)
            got = torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], "")
        return bool(torch.allclose(got, F.linear(x, w, b), atol=1e-4, rtol=1e-4))
    except (AttributeError, RuntimeError):
        return False


class _PackCache:
    """weight tensor -> its packed copy, rebuilt if the weight is modified in place."""

    def __init__(self) -> None:
        # Keyed by identity (a tensor's == is elementwise); entries die with their weight.
        self._packs: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._lock = threading.Lock()

    def get(self, weight: torch.Tensor) -> torch.Tensor:
        # Inference tensors (made under inference_mode) have no version counter.
        version = -1 if weight.is_inference() else weight._version
        entry = self._packs.get(weight)
        if entry is None or entry[0] != version:
            with torch.inference_mode():
                packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None)
            with self._lock:
                self._packs[weight] = (version, packed)
            return packed
        return entry[1]


_CACHE = _PackCache()


def _fast_path_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
        and x.dim() >= 2 and not x.is_mkldnn and not weight.is_mkldnn
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        and not torch.is_autocast_enabled("cpu")
        and x.numel() * weight.shape[0] >= MIN_WORK
        and prepack_available()
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           activation: str | None = None) -> torch.Tensor:
    """``activation(F.linear(x, weight, bias))``, on the packed kernel where it pays."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(map(str, ACTIVATIONS))}, got {activation!r}")
    if _fast_path_applies(x, weight):
        attr, algorithm = ACTIVATIONS[activation]
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), _CACHE.get(weight), bias, attr, [], algorithm)
    y = F.linear(x, weight, bias)
    return F.gelu(y) if activation == "gelu" else y


class PrepackedLinear(nn.Linear):
    """An ``nn.Linear`` (same parameters, same state_dict) whose inference calls use
    :func:`linear`; training and autocast calls are plain ``nn.Linear``."""

    @classmethod
    def from_linear(cls, layer: nn.Linear) -> "PrepackedLinear":
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = layer.in_features, layer.out_features
        new.weight, new.bias = layer.weight, layer.bias  # shared, not copied
        new.train(layer.training)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def prepack_linears(module: nn.Module) -> int:
    """Swap every plain ``nn.Linear`` inside ``module`` for a :class:`PrepackedLinear` sharing
    its parameters; returns how many were swapped (0 where the fast path is unavailable).

    Layers owned by ``nn.MultiheadAttention`` are left alone: it reads their weights directly.
    """
    if not prepack_available():
        return 0
    swapped = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.MultiheadAttention):
            continue
        if type(child) is nn.Linear:
            setattr(module, name, PrepackedLinear.from_linear(child))
            swapped += 1
        else:
            swapped += prepack_linears(child)
    return swapped


def describe() -> dict[str, Any]:
    """For benchmark records: which linear kernels served float32 CPU inference."""
    return {"cpu_linear": "onednn-prepacked" if prepack_available() else "aten"}
