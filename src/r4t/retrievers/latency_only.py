"""Latency-only stand-ins at realistic sizes: random weights, real compute.

A fan-out LM's latency depends on its architecture, its size and how many tokens it
writes -- not on what its weights say. ``latency_only_fanout`` builds a randomly
initialised model of a named architecture (Qwen2.5-0.5B, Qwen3-4B, ...) offline from its
config, decodes exactly ``new_tokens`` tokens per query, then embeds ``subqueries``
sub-query texts per query and grounds them, like ``fanout_lm``. ``latency_only_diffusion``
is the paper-size denoiser (6 layers, width 1024, MLP 1024, 16 heads: 53.9M parameters in the
paper, 77M in our block, whose adaLN noise modulation adds 12.6M) sampling 256 SDE steps
with guidance. Their sets are meaningless, so the benchmark reports no quality for them
and labels every figure "latency only, random weights".
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from r4t.data.prepare import PreparedData
from r4t.diffusion.backbones import backbones
from r4t.diffusion.denoiser import SetDenoiser
from r4t.errors import ConfigError
from r4t.retrievers.base import Retriever, retrievers
from r4t.retrievers.diffusion import DiffusionRetriever
from r4t.seeding import seeded

# Published architecture hyper-parameters (config.json of each model); weights are never loaded.
LLM_ARCHITECTURES: dict[str, tuple[str, dict[str, Any]]] = {
    "qwen2.5-0.5b": ("Qwen2Config", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True)),
    "qwen2.5-1.5b": ("Qwen2Config", dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True)),
    "qwen3-4b": ("Qwen3Config", dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                                     num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True)),
    "test-tiny": ("Qwen2Config", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True)),
}

PAPER_DENOISER = {"name": "coherent_transformer", "depth": 6, "width": 1024, "mlp": 1024, "heads": 16, "dropout": 0.1}


CACHES = ("dynamic", "static")


def build_random_lm(arch: str, seed: int = 0, dtype: torch.dtype = torch.float32, device: str | None = None) -> Any:
    """A randomly initialised causal LM of a named architecture, built directly on ``device``
    (a 4B model initialised on the host first would take minutes and 16 GB of host memory);
    ``None`` builds it wherever the caller's default device is (e.g. ``meta`` to count parameters)."""
    import transformers

    if arch not in LLM_ARCHITECTURES:
        raise ConfigError(f"unknown latency-only architecture {arch!r}; known: {sorted(LLM_ARCHITECTURES)}")
    cls_name, kwargs = LLM_ARCHITECTURES[arch]
    config = getattr(transformers, cls_name)(**kwargs)
    with seeded(seed):
        if device is None:
            return transformers.AutoModelForCausalLM.from_config(config, dtype=dtype).eval()
        with torch.device(device):
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.to(device).eval()


@retrievers.register("latency_only_fanout")
class LatencyOnlyFanout(Retriever):
    """Random-weight LLM of a named size writing ``new_tokens`` tokens per fan-out (latency only).

    ``cache="static"`` decodes with transformers' static KV cache; on CUDA, transformers then
    compiles the decoding step by itself (``torch.compile``, CUDA graphs) unless
    ``compile=False``: the fastest ``generate`` it offers. Compilation happens in the first
    calls of each batch size, which a benchmark's warm-up absorbs.
    """

    latency_only = True
    uses_query_embedding = False  # like fanout_lm: the LLM reads the texts, only sub-queries are embedded

    def __init__(self, data: PreparedData, arch: str = "qwen2.5-0.5b", new_tokens: int = 120, prompt_tokens: int = 64,
                 subqueries: int = 10, dtype: str = "float32", device: str = "cpu", seed: int = 0,
                 cache: str = "dynamic", compile: bool = True) -> None:
        super().__init__(data)
        if new_tokens < 1 or prompt_tokens < 1 or subqueries < 1:
            raise ConfigError("latency_only_fanout: new_tokens, prompt_tokens and subqueries must be >= 1")
        if cache not in CACHES:
            raise ConfigError(f"latency_only_fanout: cache must be one of {CACHES}, got {cache!r}")
        self.arch, self.new_tokens, self.prompt_tokens, self.subqueries = arch, new_tokens, prompt_tokens, subqueries
        self.cache, self.compile = cache, bool(compile)
        self.device = torch.device(device)
        self.model = build_random_lm(arch, seed, getattr(torch, dtype), str(self.device))
        self.num_parameters = sum(p.numel() for p in self.model.parameters())
        self.vocab = self.model.config.vocab_size
        rng = np.random.default_rng(seed)
        # Sub-query texts of realistic length for the embedding step: catalog item texts.
        texts = data.catalog.item_texts
        self._subquery_pool = [texts[i] for i in rng.choice(len(texts), size=min(len(texts), 4096), replace=False)]

    def retrieve_indices_for(self, texts: Sequence[str], query_emb: np.ndarray | None, k: int) -> list[list[int]]:
        self.check_k(k)
        b = len(texts)
        gen = torch.Generator().manual_seed(0)
        prompt = torch.randint(0, self.vocab, (b, self.prompt_tokens), generator=gen).to(self.device)
        cache = {"cache_implementation": "static", "disable_compile": not self.compile} if self.cache == "static" else {}
        with self.stage("generate"), torch.no_grad():
            out = self.model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=self.new_tokens,
                                      min_new_tokens=self.new_tokens, do_sample=False, pad_token_id=0, eos_token_id=None, **cache)
        assert out.shape[1] == self.prompt_tokens + self.new_tokens
        subs = [self._subquery_pool[(n * self.subqueries + j) % len(self._subquery_pool)] for n in range(b) for j in range(self.subqueries)]
        with self.stage("encode"):
            emb = self.data.embedder.encode(subs)
        with self.stage("search"):
            return [self.data.item_index.search_distinct(emb[n * self.subqueries : (n + 1) * self.subqueries], k) for n in range(b)]

    def _retrieve(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        raise ConfigError("latency_only_fanout needs query texts: call retrieve()")


@retrievers.register("latency_only_diffusion")
class LatencyOnlyDiffusion(DiffusionRetriever):
    """The paper-size set denoiser (~54M parameters, random weights) with its 256-step SDE sampler (latency only)."""

    latency_only = True

    def __init__(self, data: PreparedData, backbone: Any = None, set_size: int = 10, sampler: Any = None,
                 guidance: float = 0.1, sigma_data: float = 0.088, device: str = "cpu", seed: int = 0) -> None:
        Retriever.__init__(self, data)
        with seeded(seed):
            net = backbones.build(backbone or PAPER_DENOISER, dim=int(data.item_emb.shape[1]), set_size=set_size)
        denoiser = SetDenoiser(net, sigma_data)
        self.num_parameters = sum(p.numel() for p in denoiser.parameters())
        self._setup(denoiser, set_size, sampler or {"name": "edm_sde", "steps": 256}, 1e-4, 80.0, guidance, device, seed)
