"""The benchmark under 2 gloo processes gives the same records as one process."""

import json
import os
import socket

import pytest
import torch.multiprocessing as mp

from r4t.bench.distributed import gather_sharded, shard

SPECS = ["dense_topk", '{"name": "mmr", "lambda_": 0.5}']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run_dir: str, registry: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank))
    import torch.distributed as dist

    from r4t.bench.latency import LatencyProtocol
    from r4t.bench.runner import parse_entry, run_benchmark
    from r4t.data.prepare import DataConfig, prepare_data

    data = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64}, run_dir=run_dir), quiet=True)
    run_benchmark({}, data, [parse_entry(s) for s in SPECS], LatencyProtocol(batch_sizes=(2,), repeats=1, min_repeats=1, warmup=0),
                  registry=registry, max_queries=7, log=lambda m: None)
    dist.destroy_process_group()


def _metrics(registry):
    out = {}
    for path in sorted(registry.rglob("*.json")):
        r = json.loads(path.read_text())
        out[r["retriever"]["label"]] = r["quality"]
    return out


def test_shard_and_gather_roundtrip():
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(sum(parts, [])) == items
    assert gather_sharded(parts[0], 0, 1, 4) == parts[0]


@pytest.mark.slow
def test_two_rank_benchmark_matches_one_rank(tiny_data, tmp_path):
    run_dir = str(tmp_path / "run")
    from r4t.data.prepare import DataConfig, prepare_data

    prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64}, run_dir=run_dir), quiet=True)
    mp.spawn(_worker, args=(2, _free_port(), run_dir, str(tmp_path / "two")), nprocs=2, join=True)
    os.environ.pop("WORLD_SIZE", None)
    from r4t.bench.latency import LatencyProtocol
    from r4t.bench.runner import parse_entry, run_benchmark

    run_benchmark({}, tiny_data, [parse_entry(s) for s in SPECS], LatencyProtocol(batch_sizes=(2,), repeats=1, min_repeats=1, warmup=0),
                  registry=tmp_path / "one", max_queries=7, log=lambda m: None)
    two, one = _metrics(tmp_path / "two"), _metrics(tmp_path / "one")
    assert set(two) == set(one) == {"dense_topk", "mmr (lambda_=0.5)"}
    assert len(list((tmp_path / "two").rglob("*.json"))) == 2  # rank 0 alone writes
    assert two == one
