"""r4t's own set rewards beyond the paper: coverage, curated match, complementarity, coherence, log-det diversity."""

from __future__ import annotations

import math

import torch

from r4t.errors import ConfigError, DataError
from r4t.rewards import functional as F
from r4t.rewards.base import SetBatch, TermReward, rewards


def _attribute(batch: SetBatch, name: str, who: str) -> torch.Tensor:
    attrs = batch.item_attributes or {}
    if name not in attrs:
        raise DataError(f"reward {who!r} needs item attribute {name!r}; the batch has {sorted(attrs) or 'none'}")
    return attrs[name]


@rewards.register("coverage")
class Coverage(TermReward):
    """Facility-location coverage of the query's interpretations by the set's items."""

    name, needs = "coverage", ("item_emb", "target_emb")

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.item_emb is not None and batch.target_emb is not None  # checked against ``needs``
        return F.coverage(batch.item_emb, batch.target_emb, batch.target_mask)


@rewards.register("curated_match")
class CuratedMatch(TermReward):
    """How the set matches the catalog's curated collections for the query's theme (precision and
    coverage, ``F.curated_match``). A training signal from the data users have (playlists, outfits
    made for a theme), unlike the query-embedding proxies: the grounder attaches a query's
    collections of its own split only, so training queries read training collections only."""

    name, needs = "curated_match", ("item_emb", "curated_emb")

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.item_emb is not None and batch.curated_emb is not None  # checked against ``needs``
        return F.curated_match(batch.item_emb, batch.curated_emb, batch.curated_mask)


@rewards.register("complementarity")
class Complementarity(TermReward):
    """Distinct roles per item (e.g. outfit slots) times (1 - near-duplicate share)."""

    name, needs = "complementarity", ("item_emb",)

    def __init__(self, role_attribute: str | None = None, dup_threshold: float = 0.95) -> None:
        if not 0.0 < dup_threshold <= 1.0:
            raise ConfigError(f"complementarity dup_threshold must be in (0, 1], got {dup_threshold}")
        self.role_attribute, self.dup_threshold = role_attribute, dup_threshold

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.item_emb is not None
        roles = _attribute(batch, self.role_attribute, self.name) if self.role_attribute else None
        return F.complementarity(batch.item_emb, roles, self.dup_threshold)


@rewards.register("coherence")
class Coherence(TermReward):
    """The set hangs together: mean pairwise cosine, or agreement on one attribute (e.g. style)."""

    name, needs = "coherence", ("item_emb",)

    def __init__(self, attribute: str | None = None) -> None:
        self.attribute = attribute
        self.min_value = 0.0 if attribute else -1.0

    def score(self, batch: SetBatch) -> torch.Tensor:
        if self.attribute:
            return F.attribute_agreement(_attribute(batch, self.attribute, self.name))
        assert batch.item_emb is not None
        return F.coherence(batch.item_emb)


@rewards.register("logdet_diversity")
class LogDetDiversity(TermReward):
    """log det(S + eps I) / k of the items' cosine Gram: DPP's diversity term, so that
    ``{alignment: 1, logdet_diversity: 1 / (2 alpha)}`` ranks sets as ``dpp`` (alpha) does."""

    name, needs = "logdet_diversity", ("item_emb",)

    def __init__(self, eps: float = 1e-6) -> None:
        if not 0.0 < eps < 1.0:
            raise ConfigError(f"logdet_diversity eps must be in (0, 1), got {eps}")
        self.eps = eps
        self.min_value = math.log(eps)

    def score(self, batch: SetBatch) -> torch.Tensor:
        assert batch.item_emb is not None
        return F.log_det_diversity(batch.item_emb, self.eps)
