"""candidate_transformer: the coherent transformer with the query's dense top-M items in its context."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from r4t.diffusion.backbones import backbones
from r4t.diffusion.denoiser import SetDenoiser
from r4t.errors import ConfigError

SPEC = {"name": "candidate_transformer", "depth": 2, "width": 32, "mlp": 64, "heads": 4, "dropout": 0.0, "candidates": 5}


def _net(catalog: torch.Tensor | None = None):
    torch.manual_seed(0)
    net = backbones.build(SPEC, dim=8, set_size=4).eval()
    if catalog is not None:
        net.attach_catalog(catalog)
    return net


def _catalog(n: int = 40) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, 8, generator=torch.Generator().manual_seed(1)), dim=-1)


def test_candidates_are_the_exact_dense_top_m_nearest_first():
    catalog = _catalog()
    net = _net(catalog)
    cond = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    expected = np.argsort(-(cond @ catalog.T).numpy(), axis=1)[:, :5]
    assert net.candidate_ids(cond).tolist() == expected.tolist()


def test_clear_errors_without_a_usable_catalog():
    net = _net()
    x, noise, cond, keep = torch.randn(2, 4, 8), torch.zeros(2), torch.randn(2, 8), torch.ones(2, dtype=torch.bool)
    with pytest.raises(ConfigError, match="attach_catalog"):
        net(x, noise, cond, keep)
    with pytest.raises(ConfigError, match=r"\[N, 8\]"):
        net.attach_catalog(torch.randn(10, 3))
    with pytest.raises(ConfigError, match="5 candidates but the catalog has 3"):
        net.attach_catalog(torch.randn(3, 8))
    with pytest.raises(ConfigError, match="candidates must be an integer"):
        backbones.build({**SPEC, "candidates": 0}, dim=8, set_size=4)


def test_bind_equals_forward_and_rows_stay_exchangeable():
    net = _net(_catalog())
    x, noise, cond = torch.randn(2, 4, 8), torch.tensor([0.1, -0.3]), torch.randn(2, 8)
    keep = torch.tensor([True, False])
    with torch.no_grad():
        out = net(x, noise, cond, keep)
        torch.testing.assert_close(net.bind(cond, keep)(x, noise), out)
        perm = torch.tensor([2, 0, 3, 1])
        torch.testing.assert_close(net(x[:, perm], noise, cond, keep), out[:, perm], rtol=1e-5, atol=1e-5)


def test_the_neighbourhood_is_read_and_dropped_with_the_condition():
    catalog = _catalog()
    net = _net(catalog)
    with torch.no_grad():  # non-zero rank and null tokens, as after training
        net.rank.normal_()
        net.null_cand.normal_()
    x, noise, cond = torch.randn(1, 4, 8), torch.zeros(1), catalog[:1].clone()
    moved = catalog.clone()
    moved[net.candidate_ids(cond)[0, 1:]] = _catalog(40)[20:24]  # new items in the query's neighbourhood
    other = _net(moved)
    with torch.no_grad():
        other.load_state_dict(net.state_dict())
        on = torch.ones(1, dtype=torch.bool)
        assert not torch.allclose(net(x, noise, cond, on), other(x, noise, cond, on))  # the candidates are read
        off = torch.zeros(1, dtype=torch.bool)
        torch.testing.assert_close(net(x, noise, cond, off), other(x, noise, cond, off))  # and dropped with the query


def test_the_catalog_is_not_saved_with_the_weights():
    net = _net(_catalog())
    assert all(t.shape != (40, 8) for t in net.state_dict().values())
    den = SetDenoiser(net, sigma_data=0.3, query_anchor=1.0)
    rows = den(torch.randn(2, 4, 8), torch.tensor([0.5, 1.0]), torch.randn(2, 8))
    assert rows.shape == (2, 4, 8) and torch.isfinite(rows).all()


@pytest.mark.slow
def test_fit_and_serve_with_the_catalog_attached(tiny_data, tmp_path, monkeypatch, capsys):
    """`r4t fit` trains it (SetDiffusion attaches the catalog), the checkpoint holds no catalog, and the
    retriever attaches its own before sampling; benchmarks/row_geometry.py reads its rows."""
    import json

    from r4t.cli import main
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.retrievers import retrievers
    from tests.conftest import TINY_CONFIG

    monkeypatch.chdir(tmp_path)
    spec = {"name": "candidate_transformer", "depth": 1, "width": 32, "mlp": 64, "heads": 2, "candidates": 8}
    assert main(["fit", "-c", str(TINY_CONFIG), "--model.backbone", json.dumps(spec), "--trainer.enable_checkpointing=true",
                 f"--run_dir={tmp_path}/run"]) == 0
    (ckpt,) = (tmp_path / "run" / "diffusion").rglob("last.ckpt")
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert any(k.endswith("backbone.rank") for k in state)
    assert all(v.shape[0] < 100 for v in state.values() if v.ndim == 2)  # no [N items, d] tensor in the checkpoint
    data = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64},
                                   run_dir=str(tmp_path / "run")), quiet=True)
    r = retrievers.build({"name": "raw_diffusion", "checkpoint": str(ckpt), "sampler": {"name": "dpmpp_2m", "steps": 4}}, data=data)
    sets = r.retrieve([q.text for q in data.catalog.queries[:3]], 10)
    assert all(len(s) == len(set(s)) == 10 and set(s) <= set(data.catalog.item_ids) for s in sets)
    _check_row_geometry_table(ckpt, monkeypatch, capsys)


def _check_row_geometry_table(ckpt, monkeypatch, capsys) -> None:
    import runpy
    import sys
    from pathlib import Path

    from tests.conftest import TINY_CONFIG

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "row_geometry.py"
    monkeypatch.setattr(sys, "argv", ["row_geometry.py", "-c", str(TINY_CONFIG), "--checkpoint", str(ckpt), "--retriever", "raw_diffusion",
                                      "--variant", '{"sampler": {"name": "dpmpp_2m", "steps": 2}}',
                                      "--variant", '{"sampler": {"name": "dpmpp_2m", "steps": 2}, "repulsion": 1.0}'])
    capsys.readouterr()
    runpy.run_path(str(script), run_name="__main__")
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| {")]
    assert len(rows) == 2
    distinct = [float(r[2]) for r in rows]
    spread = [float(r[4]) for r in rows]
    assert all(1 <= d <= 10 for d in distinct) and spread[1] > spread[0]  # repulsion spreads the same seeded rows
