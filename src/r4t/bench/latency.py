"""Fan-out latency with one protocol for every retriever.

For each batch size: ``warmup`` untimed calls, then ``repeats`` timed calls of
``retriever.retrieve(texts, k)`` on the same query texts -- query encoding, generation
(LM decoding or diffusion sampling) and the faiss search all count. Memoised work is
dropped before every call (``Retriever.clear_caches``) so no call is cheaper than a
user's first. On CUDA every stage boundary synchronises. Slow methods are given a time
budget per batch size: at least ``min_repeats`` calls, then stop once the budget is spent;
a batch size is skipped (and recorded as skipped) when one call, extrapolated linearly
from the largest size measured so far, would exceed ``max_call_s``. Every figure says how many calls it rests on.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from r4t.bench.leaderboard import DIRECTION_STAGES
from r4t.retrievers.base import Retriever


@dataclass
class BatchLatency:
    batch_size: int
    calls: int
    p50_s: float
    p95_s: float
    p99_s: float
    mean_s: float
    queries_per_s: float
    breakdown_s: dict[str, float] = field(default_factory=dict)  # mean seconds per call and stage

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_times(cls, batch_size: int, times: Sequence[float], stage_totals: Mapping[str, float]) -> "BatchLatency":
        """Percentiles of the call times; ``stage_totals``: each stage's seconds summed over the calls."""
        arr = np.asarray(times, dtype=float)
        p50, p95, p99 = _percentiles(arr)
        return cls(batch_size, len(arr), p50, p95, p99, float(arr.mean()), float(batch_size / arr.mean()),
                   {name: total / len(arr) for name, total in sorted(stage_totals.items())})


@dataclass
class LatencyProtocol:
    batch_sizes: Sequence[int] = (1, 8, 64)
    warmup: int = 1
    repeats: int = 10
    min_repeats: int = 3
    budget_s: float = 60.0       # per batch size, after the minimum calls
    max_call_s: float = 120.0    # skip a batch size whose predicted call time exceeds this
    k: int = 10

    def as_dict(self) -> dict:
        return {**asdict(self), "batch_sizes": list(self.batch_sizes)}


def batch_of(texts: Sequence[str], size: int) -> list[str]:
    """``size`` query texts, cycling through ``texts`` (the same batch for every method)."""
    if not texts:
        raise ValueError("latency needs at least one query text")
    return [texts[i % len(texts)] for i in range(size)]


def _percentiles(times: np.ndarray) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def timed_call(retriever: Retriever, texts: Sequence[str], k: int,
               sync: Callable[[], None] | None = None) -> tuple[float, dict[str, float]]:
    """One ``retrieve`` call paying full price (caches dropped): its wall time and the
    seconds spent in each stage."""
    retriever.stage.sync = sync
    retriever.clear_caches()
    retriever.stage.reset()
    if sync:
        sync()
    start = time.perf_counter()
    retriever.retrieve(list(texts), k)
    if sync:
        sync()
    return time.perf_counter() - start, dict(retriever.stage.totals)


def measure_batch(retriever: Retriever, texts: Sequence[str], protocol: LatencyProtocol,
                  sync: Callable[[], None] | None = None) -> BatchLatency:
    """Time ``retrieve`` on one batch of query texts under ``protocol``."""
    for _ in range(protocol.warmup):
        timed_call(retriever, texts, protocol.k, sync)
    times: list[float] = []
    stages: dict[str, float] = {}
    spent = 0.0
    while len(times) < protocol.repeats:
        elapsed, call_stages = timed_call(retriever, texts, protocol.k, sync)
        times.append(elapsed)
        for name, seconds in call_stages.items():
            stages[name] = stages.get(name, 0.0) + seconds
        spent += elapsed
        if len(times) >= protocol.min_repeats and spent > protocol.budget_s:
            break
    return BatchLatency.from_times(len(texts), times, stages)


@dataclass
class InterleavedTimes:
    """Per-round times of one retriever from ``measure_interleaved`` (index = round)."""

    total_s: np.ndarray
    stages_s: dict[str, np.ndarray]

    def fanout_s(self) -> np.ndarray:
        """Query texts -> search directions: the encode and generate stages of each call."""
        zero = np.zeros_like(self.total_s)
        return sum((self.stages_s.get(name, zero) for name in DIRECTION_STAGES), zero)


def measure_interleaved(retrievers: Mapping[str, Retriever], texts: Sequence[str], rounds: int, k: int = 10,
                        warmup: int = 1, sync: Callable[[], None] | None = None) -> dict[str, InterleavedTimes]:
    """Time several retrievers on the same batch in rounds: each round makes one call of
    every retriever, in an order rotated from round to round.

    Sequential sweeps time methods minutes apart, and a shared or thermally throttled machine
    can drift by tens of percent in that time; here every round sees the machine in the same
    state for all methods, so per-round ratios (``stats.median_ratio``) cancel the drift.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    labels = list(retrievers)
    for label in labels:
        for _ in range(warmup):
            timed_call(retrievers[label], texts, k, sync)
    totals: dict[str, list[float]] = {label: [] for label in labels}
    stages: dict[str, list[dict[str, float]]] = {label: [] for label in labels}
    for r in tqdm(range(rounds), desc="interleaved latency", unit="round", leave=False):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            seconds, call_stages = timed_call(retrievers[label], texts, k, sync)
            totals[label].append(seconds)
            stages[label].append(call_stages)
    out = {}
    for label in labels:
        names = sorted({name for call in stages[label] for name in call})
        out[label] = InterleavedTimes(np.array(totals[label]),
                                      {name: np.array([call.get(name, 0.0) for call in stages[label]]) for name in names})
    return out


def measure_latency(retriever: Retriever, texts: Sequence[str], protocol: LatencyProtocol,
                    sync: Callable[[], None] | None = None, label: str = "") -> tuple[list[BatchLatency], list[int]]:
    """The sweep over batch sizes; returns (measured, skipped batch sizes)."""
    done: list[BatchLatency] = []
    skipped: list[int] = []
    for size in tqdm(sorted(protocol.batch_sizes), desc=f"latency {label}".strip(), unit="batch size", leave=False):
        # Skip once one call at this size is predicted (linearly from the last measured size) to exceed max_call_s.
        if done and done[-1].p50_s * size / done[-1].batch_size > protocol.max_call_s:
            skipped.append(size)
            continue
        done.append(measure_batch(retriever, batch_of(texts, size), protocol, sync))
    return done, skipped
