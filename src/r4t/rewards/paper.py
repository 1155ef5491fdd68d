"""The paper's rewards: groundedness, Vendi diversity, alignment (OAR) and reference
recall (WSCR), as registered rewards over a ``SetBatch``."""

from __future__ import annotations

import torch

from r4t.errors import ConfigError
from r4t.rewards import functional as F
from r4t.rewards.base import SetBatch, TermReward, rewards


@rewards.register("groundedness")
class Groundedness(TermReward):
    """1 - mean L2 distance from each sub-query to its nearest catalog item (top-1 hit)."""

    name, needs = "groundedness", ("subquery_emb", "item_emb")
    min_value = -1.0  # distance between unit vectors is at most 2

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.subquery_emb is not None and batch.item_emb is not None  # checked against ``needs``
        return F.groundedness_from_nearest(batch.subquery_emb, batch.item_emb)


@rewards.register("vendi_diversity")
class VendiDiversity(TermReward):
    """Vendi score of the top-1 items' content embeddings; normalised to [0, 1] by default.

    ``target_size`` normalises by max(n, target_size) - 1 instead of n - 1, so a fan-out
    cannot score high diversity by writing only two sub-queries (set it to k for RL).
    """

    name, needs = "vendi_diversity", ("item_emb",)

    def __init__(self, normalize: bool = True, target_size: int | None = None) -> None:
        if target_size is not None and target_size < 1:
            raise ConfigError(f"vendi_diversity target_size must be >= 1, got {target_size}")
        self.normalize, self.target_size = normalize, target_size
        self.min_value = 0.0 if normalize else 1.0

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.item_emb is not None
        return F.normalized_vendi(batch.item_emb, self.target_size) if self.normalize else F.vendi_score(batch.item_emb)


@rewards.register("alignment")
class Alignment(TermReward):
    """Mean cosine between each sub-query and the query."""

    name, needs = "alignment", ("subquery_emb", "query_emb")
    min_value = -1.0

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.subquery_emb is not None and batch.query_emb is not None
        return F.alignment(batch.subquery_emb, batch.query_emb)


@rewards.register("reference_recall")
class ReferenceRecall(TermReward):
    """Share of the reference set found in the union of the sub-queries' top-``depth`` hits."""

    name, needs = "reference_recall", ("retrieved_ids", "reference_ids")

    def __init__(self, depth: int = 500) -> None:
        if depth < 1:
            raise ConfigError(f"reference_recall depth must be >= 1, got {depth}")
        self.depth = depth

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.retrieved_ids is not None and batch.reference_ids is not None
        return torch.tensor([
            F.reference_recall([ids[: self.depth] for ids in per_sub], ref)
            for per_sub, ref in zip(batch.retrieved_ids, batch.reference_ids)
        ])
