"""The paper's rewards: groundedness, Vendi diversity, alignment (OAR) and reference
recall (WSCR), as registered ``Reward``s over a ``SetBatch``."""

from __future__ import annotations

import torch

from r4t.errors import ConfigError, DataError
from r4t.rewards import functional as F
from r4t.rewards.base import Reward, RewardOutput, SetBatch, rewards


def _need(batch: SetBatch, *names: str, who: str) -> None:
    missing = [n for n in names if getattr(batch, n) is None]
    if missing:
        raise DataError(f"reward {who!r} needs SetBatch fields {missing}")


@rewards.register("groundedness")
class Groundedness(Reward):
    """1 - mean L2 distance from each sub-query to its nearest catalog item (top-1 hit)."""

    name = "groundedness"

    def __call__(self, batch: SetBatch) -> RewardOutput:
        _need(batch, "subquery_emb", "item_emb", who=self.name)
        v = F.groundedness_from_nearest(batch.subquery_emb, batch.item_emb)
        return RewardOutput(v, {self.name: v})


@rewards.register("vendi_diversity")
class VendiDiversity(Reward):
    """Vendi score of the top-1 items' content embeddings; normalised to [0, 1] by default."""

    name = "vendi_diversity"

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def __call__(self, batch: SetBatch) -> RewardOutput:
        _need(batch, "item_emb", who=self.name)
        v = F.normalized_vendi(batch.item_emb) if self.normalize else F.vendi_score(batch.item_emb)
        return RewardOutput(v, {self.name: v})


@rewards.register("alignment")
class Alignment(Reward):
    """Mean cosine between each sub-query and the query."""

    name = "alignment"

    def __call__(self, batch: SetBatch) -> RewardOutput:
        _need(batch, "subquery_emb", "query_emb", who=self.name)
        v = F.alignment(batch.subquery_emb, batch.query_emb)
        return RewardOutput(v, {self.name: v})


@rewards.register("reference_recall")
class ReferenceRecall(Reward):
    """Share of the reference set found in the union of the sub-queries' top-``depth`` hits."""

    name = "reference_recall"

    def __init__(self, depth: int = 500) -> None:
        if depth < 1:
            raise ConfigError(f"reference_recall depth must be >= 1, got {depth}")
        self.depth = depth

    def __call__(self, batch: SetBatch) -> RewardOutput:
        _need(batch, "retrieved_ids", "reference_ids", who=self.name)
        v = torch.tensor([
            F.reference_recall([ids[: self.depth] for ids in per_sub], ref)
            for per_sub, ref in zip(batch.retrieved_ids, batch.reference_ids)
        ])
        return RewardOutput(v, {self.name: v})
