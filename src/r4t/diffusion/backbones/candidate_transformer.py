"""The coherent transformer with the query's catalog neighbourhood in its context.

A denoiser that sees only the query vector has to know, from its weights alone, where an
unseen intent's valid interpretations lie in the catalog; measured on the intent-split
catalogs it does not, and its rows regress toward the query's neighbourhood (the sets dense
top-k returns; benchmarks/results/synthesis_set_targets.md). DPP and MMR instead read that
neighbourhood: they diversify within the query's dense top-100. This backbone gives the
model the same information: its cross-attention context holds, besides the query and noise
tokens, one token per item of the query's exact dense top-``candidates`` (inner product over
the catalog embeddings, ranked), so it can learn which of them form a good set.

The catalog embeddings are attached at run time (``attach_catalog``) by the training module
and by the retriever, never saved in the checkpoint: the checkpoint records the catalog it
was trained on and the retriever refuses any other (``check_trained_on``), so the attached
vectors are the trained ones. The candidate search runs once per sampling run (``bind``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from r4t.diffusion.backbones.base import backbones, scale_condition
from r4t.diffusion.backbones.coherent_transformer import CoherentTransformer
from r4t.errors import ConfigError


@backbones.register("candidate_transformer")
class CandidateTransformer(CoherentTransformer):
    """Set rows cross-attend to the query, the noise level and the query's top-M catalog items."""

    def __init__(self, dim: int, set_size: int, depth: int = 3, width: int = 256, mlp: int = 512, heads: int = 4,
                 dropout: float = 0.1, candidates: int = 32) -> None:
        if not isinstance(candidates, int) or isinstance(candidates, bool) or candidates < 1:
            raise ConfigError(f"candidate_transformer candidates must be an integer >= 1, got {candidates!r}")
        super().__init__(dim, set_size, depth, width, mlp, heads, dropout)
        self.candidates = candidates
        self.cand = nn.Linear(dim, width)
        self.rank = nn.Parameter(torch.zeros(candidates, width))  # which candidate is the query's nearest
        self.null_cand = nn.Parameter(torch.zeros(width))  # the dropped condition drops its neighbourhood too
        self._catalog: torch.Tensor | None = None  # [N, dim], attached, not a parameter or buffer

    def attach_catalog(self, item_emb: torch.Tensor) -> None:
        """The catalog's item embeddings [N, dim] the candidates are searched in."""
        if item_emb.ndim != 2 or item_emb.shape[1] != self.dim:
            raise ConfigError(f"candidate_transformer needs item embeddings [N, {self.dim}], got {tuple(item_emb.shape)}")
        if len(item_emb) < self.candidates:
            raise ConfigError(f"candidate_transformer wants {self.candidates} candidates but the catalog has {len(item_emb)} items")
        self._catalog = item_emb.detach().float()

    def candidate_ids(self, cond: torch.Tensor) -> torch.Tensor:
        """[B, d] queries -> [B, M] indices of their dense top-M items, nearest first."""
        if self._catalog is None:
            raise ConfigError("candidate_transformer has no catalog: call attach_catalog(item_embeddings) first "
                              "(SetDiffusion and the diffusion retrievers do)")
        if self._catalog.device != cond.device:
            self._catalog = self._catalog.to(cond.device)  # moved once, where the model runs
        scores = cond.float() @ self._catalog.T
        return scores.topk(self.candidates, dim=1).indices

    def _candidate_tokens(self, cond: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        ids = self.candidate_ids(cond)  # raises the clear error without a catalog
        assert self._catalog is not None
        items = self._catalog[ids].to(cond.dtype)
        tokens = self.cand(scale_condition(items)) + self.rank
        return torch.where(cond_mask[:, None, None], tokens, self.null_cand.expand_as(tokens))

    def forward(self, x: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        return self.run(x, noise, cond, cond_mask, self._candidate_tokens(cond, cond_mask))

    def bind(self, cond: torch.Tensor, cond_mask: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        tokens = self._candidate_tokens(cond, cond_mask)  # one search and projection per sampling run
        return lambda x, noise: self.run(x, noise, cond, cond_mask, tokens)
