"""The reward contract: a set in, a total and named terms out (torchtune-style).

Rewards are registered unconfigured (classes or functions) in ``rewards``; third-party
packages add theirs through the ``r4t.rewards`` entry-point group and a YAML config
names them like the built-ins.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch

from r4t.errors import DataError
from r4t.registry import Registry

rewards: Registry = Registry("rewards", entry_point_group="r4t.rewards")


@dataclass
class RewardOutput:
    """``total`` [B] plus every named component [B], so trainers can log each term."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class SetBatch:
    """What a reward may look at for B sets of k items each (fields a reward needs must be set)."""

    query_emb: torch.Tensor | None = None          # [B, d]
    subquery_emb: torch.Tensor | None = None       # [B, k, d]
    item_emb: torch.Tensor | None = None           # [B, k, d] content embeddings of the set's items
    item_ids: list[list[int]] | None = None        # the set's catalog indices
    retrieved_ids: list[list[list[int]]] | None = None  # per set, per sub-query: ranked hits
    reference_ids: list[list[int]] | None = None   # per set: the reference answer (WSCR)
    target_emb: torch.Tensor | None = None         # [B, m, d] the query's interpretations (coverage)
    target_mask: torch.Tensor | None = None        # [B, m] False where target_emb is padding
    curated_emb: torch.Tensor | None = None        # [B, c, d] items of the curated collections made for the query's theme
    curated_mask: torch.Tensor | None = None       # [B, c] False where curated_emb is padding
    item_attributes: dict[str, torch.Tensor] | None = None  # attribute -> [B, k] integer codes
    extra: dict[str, Any] = field(default_factory=dict)


class Reward(ABC):
    """A pure, batched, deterministic set-level score.

    ``min_value`` is the lowest score the reward can give; an output that cannot be
    scored at all (e.g. an unparsable fan-out) receives it.
    """

    name: str = "reward"
    min_value: float = 0.0

    @abstractmethod
    def __call__(self, batch: SetBatch) -> RewardOutput:
        """Score every set in ``batch``."""


class TermReward(Reward):
    """A reward that is a single named term: declare the SetBatch fields it ``needs`` and
    implement ``score``; missing fields fail with a message naming them."""

    needs: tuple[str, ...] = ()

    @abstractmethod
    def score(self, batch: SetBatch) -> torch.Tensor:
        """[B] scores."""

    def __call__(self, batch: SetBatch) -> RewardOutput:
        missing = [n for n in self.needs if getattr(batch, n) is None]
        if missing:
            raise DataError(f"reward {self.name!r} needs SetBatch fields {missing}")
        value = self.score(batch)
        return RewardOutput(value, {self.name: value})
