import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from r4t.metrics import DistinctItemsRatio, IntraListDiversity, NormalizedVendiAcrossRuns, RecallHitAtN, RewardTermMean
from r4t.rewards import SetBatch, build_reward


def test_recall_hit_known_values():
    m = RecallHitAtN()
    m.update([[1, 2, 3], [7]], [[1, 9], [5, 6]])  # query 1 finds 1 of 2; query 2 finds none
    out = m.compute()
    assert out["recall"].item() == pytest.approx(0.25) and out["hit"].item() == pytest.approx(0.5)


def test_normalized_vendi_across_runs_known_values():
    e = torch.eye(5)
    stable = e[:2].expand(5, 2, 5)[None]  # 5 runs returning the same set -> one effective run
    varied = torch.stack([e[[r, (r + 1) % 5]] for r in range(5)])[None]  # rotating sets
    m = NormalizedVendiAcrossRuns()
    m.update(stable)
    assert m.compute().item() == pytest.approx(0.0, abs=1e-6)
    m2 = NormalizedVendiAcrossRuns()
    m2.update(varied)
    assert m2.compute().item() > 0.5


def test_ild_and_distinct_ratio():
    ild = IntraListDiversity()
    ild.update(torch.eye(3)[None])
    assert ild.compute().item() == pytest.approx(1.0)
    d = DistinctItemsRatio(num_items=10)
    d.update([[0, 1, 2], [2, 3, 4]])  # 5 distinct of 6 returned slots
    assert d.compute().item() == pytest.approx(5 / 6)


def test_reward_term_mean_reports_every_component():
    m = RewardTermMean(build_reward({"components": {"alignment": 1.0, "vendi_diversity": 1.0}}))
    e = torch.eye(2)
    m.update(SetBatch(query_emb=e[:1], subquery_emb=e[None], item_emb=e[None]))
    out = m.compute()
    assert set(out) == {"total", "alignment", "vendi_diversity"}
    assert out["alignment"].item() == pytest.approx(0.5) and out["vendi_diversity"].item() == pytest.approx(1.0)
    assert out["total"].item() == pytest.approx(1.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        rh = RecallHitAtN()
        rh.update([[1, 2]] if rank == 0 else [[9]], [[1, 2]] if rank == 0 else [[3, 4]])
        d = DistinctItemsRatio(num_items=6)
        d.update([[0, 1]] if rank == 0 else [[1, 2]])
        ild = IntraListDiversity()
        ild.update(torch.eye(2)[None] if rank == 0 else torch.ones(1, 2, 2))
        out = rh.compute()
        results[rank] = (out["recall"].item(), out["hit"].item(), d.compute().item(), ild.compute().item())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_states_reduce_across_two_processes():
    results = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), results), nprocs=2, join=True)
    # rank 0: recall 1, hit 1; rank 1: recall 0, hit 0 -> means 0.5 / 0.5 on both ranks.
    # distinct: {0,1,2} of 4 slots = 0.75. ILD: 1 (orthogonal) and 0 (identical) -> 0.5.
    for rank in (0, 1):
        assert results[rank] == pytest.approx((0.5, 0.5, 0.75, 0.5))
