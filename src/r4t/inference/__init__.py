"""Serving-time speed-ups that leave results unchanged up to float rounding."""

from r4t.inference.cpu_linear import PrepackedLinear, linear, prepack_available, prepack_linears

__all__ = ["PrepackedLinear", "linear", "prepack_available", "prepack_linears"]
