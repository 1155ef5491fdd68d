"""torchmetrics wrappers around ``r4t.rewards.functional``: the benchmark uses the very
definitions training uses. Every state is a sum (or a count vector) registered with
``add_state(..., dist_reduce_fx="sum")``, so DDP reduction is exact."""

from __future__ import annotations

from typing import Sequence

import torch
from torchmetrics import Metric

from r4t.rewards import functional as F
from r4t.rewards.base import Reward, SetBatch


class _MeanMetric(Metric):
    """Sum and count states; ``compute`` returns their ratio."""

    full_state_update = False
    total: torch.Tensor  # states registered by add_state (declared so type checkers know them)
    count: torch.Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def _add(self, values: torch.Tensor) -> None:
        self.total += values.detach().double().sum().to(self.total.device)
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp_min(1)).float()


class RecallHitAtN(Metric):
    """Recall@N and Hit@N of reference sets. The paper's Recall@5K / Hit@5K pass the union
    of 500 candidates for each of 10 directions as ``retrieved``."""

    full_state_update = False
    recall: torch.Tensor
    hit: torch.Tensor
    count: torch.Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name in ("recall", "hit"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, retrieved: Sequence[Sequence[int]], references: Sequence[Sequence[int]]) -> None:
        for got, ref in zip(retrieved, references, strict=True):
            r, h = F.recall_and_hit(got, ref)
            self.recall += r
            self.hit += h
            self.count += 1

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.clamp_min(1)
        return {"recall": (self.recall / n).float(), "hit": (self.hit / n).float()}


class NormalizedVendiAcrossRuns(_MeanMetric):
    """Diversity/stability across R repeated runs of one query: normalised Vendi of the R
    runs' mean item embeddings (the paper uses R = 5), averaged over queries."""

    def update(self, run_item_emb: torch.Tensor) -> None:
        """``run_item_emb`` [B, R, k, d]: B queries, R runs, k items each."""
        means = F._unit(run_item_emb).mean(dim=-2)  # [B, R, d]
        self._add(F.normalized_vendi(means))


class IntraListDiversity(_MeanMetric):
    """Mean pairwise cosine distance within each set, averaged over sets."""

    def update(self, item_emb: torch.Tensor) -> None:
        self._add(F.intra_list_diversity(item_emb))


class DistinctItemsRatio(Metric):
    """Aggregate diversity: distinct items across all returned sets / all returned slots.

    Kept as a count per catalog item so the union is exact across processes."""

    full_state_update = False
    counts: torch.Tensor

    def __init__(self, num_items: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("counts", default=torch.zeros(num_items, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, item_ids: Sequence[Sequence[int]]) -> None:
        flat = torch.tensor([i for ids in item_ids for i in ids], dtype=torch.long)
        self.counts += torch.bincount(flat, minlength=len(self.counts)).to(self.counts.device)

    def compute(self) -> torch.Tensor:
        return (self.counts > 0).sum().float() / self.counts.sum().clamp_min(1).float()


class RewardTermMean(Metric):
    """The mean of a reward's total and of every term it returns (e.g. each component of a
    CompositeReward). Term names are fixed at construction so every process registers
    the same states."""

    full_state_update = False
    reward: Reward
    n: torch.Tensor

    def __init__(self, reward: Reward, terms: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.reward = reward
        self.terms = list(terms or getattr(reward, "components", None) or [reward.name])
        for name in ["total", *self.terms]:
            self.add_state(f"sum_{name}", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, batch: SetBatch) -> None:
        out = self.reward(batch)
        missing = set(self.terms) - set(out.terms)
        if missing:
            raise KeyError(f"reward {self.reward.name!r} did not return terms {sorted(missing)}")
        for name, value in [("total", out.total), *((t, out.terms[t]) for t in self.terms)]:
            setattr(self, f"sum_{name}", getattr(self, f"sum_{name}") + value.detach().double().sum())
        self.n += out.total.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.n.clamp_min(1)
        return {name: (getattr(self, f"sum_{name}") / n).float() for name in ["total", *self.terms]}
