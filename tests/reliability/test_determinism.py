"""Same config + seed -> identical catalog bytes, identical shards and identical retrieved
sets on CPU (GPU kernels are not bit-exact: see docs/reliability.md)."""

from __future__ import annotations

import pytest

from r4t.data.sources import catalogs
from r4t.fanout.policy import load_policy
from r4t.retrievers import retrievers
from r4t.rewards import build_reward
from r4t.synth.transducer import SynthConfig, synthesize
from tests.reliability.helpers import tree_hashes


@pytest.mark.parametrize("name", ["music", "fashion"])
def test_catalog_bytes_identical(name, tmp_path):
    for run in ("a", "b"):
        catalogs.build({"name": name, "size": "tiny", "seed": 3}).save(tmp_path / run)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b") != {}
    catalogs.build({"name": name, "size": "tiny", "seed": 4}).save(tmp_path / "c")
    assert tree_hashes(tmp_path / "c") != tree_hashes(tmp_path / "a")  # the seed matters


def test_shards_identical(tiny_data, tiny_policy_dir, tmp_path):
    cfg = SynthConfig(samples_per_query=2, queries_per_shard=4, set_size=10, max_queries=8, seed=0)
    for run in ("a", "b"):
        policy = load_policy(str(tiny_policy_dir), domain="music", subqueries=3)  # a fresh process's state
        synthesize(tiny_data, policy, build_reward(None), cfg, tmp_path / run, policy_id="tiny", progress=False)
    a, b = tree_hashes(tmp_path / "a", "shard-*.tar"), tree_hashes(tmp_path / "b", "shard-*.tar")
    assert a == b and len(a) == 2


def _diffusion_checkpoint(tmp_path, dim: int) -> str:
    import lightning as L
    import torch

    from r4t.diffusion.module import SetDiffusion

    torch.manual_seed(0)
    model = SetDiffusion(backbone={"name": "coherent_transformer", "depth": 1, "width": 32, "mlp": 32, "heads": 2},
                         set_size=10, dim=dim, sigma_data=0.1, query_anchor=1.0)
    trainer = L.Trainer(max_epochs=0, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return str(path)


def test_retrieved_sets_identical(tiny_data, tiny_policy_dir, tmp_path):
    specs = ["dense_topk", {"name": "mmr", "lambda_": 0.5}, {"name": "dpp", "alpha": 3.0},
             {"name": "fanout_lm", "policy": str(tiny_policy_dir), "subqueries": 3, "max_new_tokens": 32},
             {"name": "r4t_diffusion", "checkpoint": _diffusion_checkpoint(tmp_path, tiny_data.item_emb.shape[1]),
              "sampler": {"name": "edm_sde", "steps": 6}}]
    texts = [q.text for q in tiny_data.catalog.queries_for(split="test")[:5]]
    for spec in specs:
        first = retrievers.build(spec, data=tiny_data).retrieve(texts, 5)
        again = retrievers.build(spec, data=tiny_data).retrieve(texts, 5)
        assert first == again, spec
