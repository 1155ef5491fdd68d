"""Set metrics as torchmetrics Metrics (state reduced across processes for free)."""

from r4t.metrics.set_metrics import (
    DistinctItemsRatio,
    IntraListDiversity,
    NormalizedVendiAcrossRuns,
    RecallHitAtN,
    RewardTermMean,
)

__all__ = ["DistinctItemsRatio", "IntraListDiversity", "NormalizedVendiAcrossRuns", "RecallHitAtN", "RewardTermMean"]
