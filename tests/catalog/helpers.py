"""Shared fixtures-in-code for the index tests."""

import numpy as np


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    """n random unit vectors of dimension d (float32): inner product = cosine."""
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
