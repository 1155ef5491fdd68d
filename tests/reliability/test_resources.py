"""Memory stays bounded as the work grows (synthesis and the benchmark stream), and a
large catalog (100k items; 1M under `make test-scale`) builds and searches on a laptop-class machine with the hashing embedder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SYNTH = textwrap.dedent("""
    import json, resource, sys
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.fanout.policy import load_policy
    from r4t.rewards import build_reward
    from r4t.synth.transducer import SynthConfig, synthesize
    run_dir, policy_dir, out, n = sys.argv[1:5]
    data = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64}, run_dir=run_dir), quiet=True)
    policy = load_policy(policy_dir, domain="music", subqueries=3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from pathlib import Path
    stats = synthesize(data, policy, build_reward(None), SynthConfig(samples_per_query=2, queries_per_shard=4, max_queries=int(n)),
                       Path(out), policy_id="tiny", progress=False)
    print(json.dumps({"before_kb": before, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "written": stats["written_now"]}))
""")


def _peak(script: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_synthesis_memory_is_flat_in_the_number_of_queries(tiny_data, tiny_policy_dir, tmp_path):
    run_dir = str(tiny_data.paths["catalog"].parents[2])
    small = _peak(SYNTH, run_dir, str(tiny_policy_dir), str(tmp_path / "s"), "8")
    large = _peak(SYNTH, run_dir, str(tiny_policy_dir), str(tmp_path / "l"), "40")
    assert large["written"] >= 4 * small["written"] > 0
    grow_small, grow_large = small["peak_kb"] - small["before_kb"], large["peak_kb"] - large["before_kb"]
    # 5x the samples: the peak rises by no more than a few MB (one shard is held at a time)
    assert grow_large <= grow_small + 16_000, (small, large)


# 1M items take ~2 minutes on 2 cores (most of it the generator and the hashing, both linear in
# the items), so CI builds 100k and `make test-scale` the full million.
@pytest.mark.parametrize("items", [100_000, pytest.param(1_000_000, marks=pytest.mark.scale)])
def test_a_large_catalog_builds_and_searches(tmp_path, items):
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.retrievers import retrievers

    data = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny", "items": items},
                                   embedder={"name": "hashing", "dim": 64}, run_dir=str(tmp_path)), quiet=True)
    assert len(data.catalog) == items and data.item_emb.shape == (items, 64)
    assert np.isfinite(data.item_emb[::9973]).all()
    sets = retrievers.build("dense_topk", data=data).retrieve(["rainy day jazz", "upbeat workout pop"], 10)
    assert all(len(set(s)) == 10 for s in sets)
    sets = retrievers.build({"name": "mmr", "lambda_": 0.5}, data=data).retrieve(["calm piano for studying"], 10)
    assert len(set(sets[0])) == 10


BENCH = textwrap.dedent("""
    import json, resource, sys
    from r4t.bench.latency import LatencyProtocol
    from r4t.bench.runner import parse_entry, run_benchmark
    from r4t.data.prepare import DataConfig, prepare_data
    run_dir, registry, n = sys.argv[1:4]
    data = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64}, run_dir=run_dir), quiet=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run_benchmark({}, data, [parse_entry("dense_topk"), parse_entry("mmr")], LatencyProtocol(batch_sizes=(4,), repeats=1, min_repeats=1),
                  registry=registry, split="train", max_queries=int(n), log=lambda m: None)
    print(json.dumps({"before_kb": before, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")


def test_benchmark_memory_is_flat_in_the_number_of_queries(tiny_data, tmp_path):
    run_dir = str(tiny_data.paths["catalog"].parents[2])
    small = _peak(BENCH, run_dir, str(tmp_path / "s"), "10")
    large = _peak(BENCH, run_dir, str(tmp_path / "l"), "80")
    grow_small, grow_large = small["peak_kb"] - small["before_kb"], large["peak_kb"] - large["before_kb"]
    assert grow_large <= grow_small + 16_000, (small, large)
