import time

import numpy as np
import pytest

from r4t.bench.latency import LatencyProtocol, batch_of, measure_batch, measure_interleaved, measure_latency
from r4t.bench.stats import median_ratio
from r4t.retrievers import retrievers
from r4t.retrievers.base import Retriever


class SleepyRetriever(Retriever):
    """Known cost: 2 ms of 'generate' per query, 1 ms of 'search' per call."""

    def __init__(self, data):
        super().__init__(data)
        self.cleared = 0

    def clear_caches(self):
        self.cleared += 1

    def _retrieve(self, query_emb, k):
        with self.stage("generate"):
            time.sleep(0.002 * len(query_emb))
        with self.stage("search"):
            time.sleep(0.001)
        return [list(range(k)) for _ in query_emb]


def test_batch_of_cycles_texts():
    assert batch_of(["a", "b"], 5) == ["a", "b", "a", "b", "a"]
    with pytest.raises(ValueError):
        batch_of([], 3)


def test_measured_times_and_breakdown_match_known_costs(tiny_data):
    r = SleepyRetriever(tiny_data)
    texts = [q.text for q in tiny_data.catalog.queries[:4]]
    proto = LatencyProtocol(warmup=1, repeats=4, k=5)
    res = measure_batch(r, texts, proto)
    assert res.calls == 4 and r.cleared == 5          # caches dropped before every call, warm-up included
    assert res.breakdown_s["generate"] == pytest.approx(0.008, abs=0.006)
    assert res.breakdown_s["search"] == pytest.approx(0.001, abs=0.004)
    assert "encode" in res.breakdown_s
    assert res.p50_s <= res.p95_s <= res.p99_s
    assert res.p50_s >= res.breakdown_s["generate"]
    assert res.queries_per_s == pytest.approx(4 / res.mean_s)


def test_budget_limits_calls_and_skips_larger_batches(tiny_data):
    r = SleepyRetriever(tiny_data)
    texts = [q.text for q in tiny_data.catalog.queries[:2]]
    proto = LatencyProtocol(batch_sizes=(1, 2, 4), warmup=0, repeats=50, min_repeats=2, budget_s=0.0, max_call_s=0.0, k=3)
    done, skipped = measure_latency(r, texts, proto)
    assert [d.batch_size for d in done] == [1] and skipped == [2, 4]
    assert done[0].calls == 2  # min_repeats, then the (zero) budget stops it


def test_real_retriever_breakdown(tiny_data):
    r = retrievers.build("mmr", data=tiny_data)
    res = measure_batch(r, [q.text for q in tiny_data.catalog.queries[:8]], LatencyProtocol(repeats=3, k=5))
    assert set(res.breakdown_s) == {"encode", "search", "rerank"}
    assert np.isclose(sum(res.breakdown_s.values()), res.mean_s, rtol=0.5)


class DriftingMachine:
    """A shared machine that runs at full speed in even rounds and 3x slower in odd ones."""

    def __init__(self, methods: int):
        self.methods, self.calls, self.order = methods, 0, []

    def factor(self) -> float:
        return 3.0 if (self.calls // self.methods) % 2 else 1.0


class DriftRetriever(Retriever):
    def __init__(self, data, name, cost_s, machine):
        super().__init__(data)
        self.name, self.cost_s, self.machine = name, cost_s, machine

    def _retrieve(self, query_emb, k):
        with self.stage("generate"):
            time.sleep(self.cost_s * self.machine.factor())
        self.machine.order.append(self.name)
        self.machine.calls += 1
        return [list(range(k)) for _ in query_emb]


def test_interleaved_rounds_rotate_order_and_cancel_machine_drift(tiny_data):
    machine = DriftingMachine(methods=2)
    rs = {"fast": DriftRetriever(tiny_data, "fast", 0.004, machine), "slow": DriftRetriever(tiny_data, "slow", 0.016, machine)}
    texts = [q.text for q in tiny_data.catalog.queries[:3]]
    times = measure_interleaved(rs, texts, rounds=6, k=5, warmup=1)
    assert machine.order[:2] == ["fast", "slow"]                      # warm-up
    assert machine.order[2:] == ["fast", "slow", "slow", "fast"] * 3  # the order rotates every round
    assert all(len(t.total_s) == 6 for t in times.values())
    fast, slow = times["fast"], times["slow"]
    # Half the rounds ran 3x slower, for both methods alike: absolute times spread ~3x ...
    assert slow.total_s.max() > 2.5 * slow.total_s.min()
    # ... but the paired speed-up stays at the true 4x.
    est = median_ratio(slow.stages_s["generate"], fast.stages_s["generate"])
    assert 3.4 < est.mean < 4.6 and est.lo <= est.mean <= est.hi
    assert np.all(fast.fanout_s() >= fast.stages_s["generate"]) and np.all(fast.fanout_s() <= fast.total_s)
    with pytest.raises(ValueError, match="rounds"):
        measure_interleaved(rs, texts, rounds=0)
