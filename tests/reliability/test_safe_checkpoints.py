"""A checkpoint is data: loading one (``r4t retrieve --ckpt``, ``r4t benchmark``'s run-dir
checkpoints, ``r4t fit --ckpt_path``) builds only registered r4t components and never
imports or calls a name the file chose (issue #17, finding 1). Each crafted file below is
this test's own; the backbone attacks are first shown to work through Lightning's own
loader (which since 2.6 allowlists ``_instantiator``, but not what the module builds), so the
test would fail if r4t went back to it."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from r4t.cli import main
from r4t.diffusion.checkpoint import load_set_diffusion
from r4t.diffusion.module import SetDiffusion
from r4t.errors import ConfigError, DataError
from r4t.retrievers import retrievers
from tests.reliability.helpers import CONF, save_small_checkpoint

SMALL = {"name": "mlp", "width": 16, "depth": 1}


def _save(model: SetDiffusion, path, **hparams_override) -> None:
    save_small_checkpoint(path, model=model, **hparams_override)


@pytest.fixture
def planted_module(tmp_path, monkeypatch):
    """An importable module outside r4t whose import (or call) writes a marker file."""
    marker = tmp_path / "PWNED"
    (tmp_path / "evil_pkg.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
        def payload(*args, **kwargs):
            Path({str(marker)!r}).write_text("called")
            raise SystemExit(0)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("evil_pkg", None)
    yield marker
    sys.modules.pop("evil_pkg", None)


@pytest.fixture
def hub_dir(tmp_path):
    """A torch.hub repo whose hubconf.py writes a marker file when loaded."""
    repo, marker = tmp_path / "hubrepo", tmp_path / "HUB_RAN"
    repo.mkdir()
    (repo / "hubconf.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
                                     "def entry(**kw):\n    raise SystemExit(0)\n")
    return repo, marker


def test_a_registered_checkpoint_round_trips(tiny_data, tmp_path):
    model = SetDiffusion(backbone=SMALL, set_size=4, dim=64, sigma_data=0.1)
    path = tmp_path / "ok.ckpt"
    _save(model, path)
    loaded = load_set_diffusion(path)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    # a class_path that names a registered backbone (as LightningCLI may write it) is accepted
    _save(model, path, backbone={"class_path": "r4t.diffusion.backbones.mlp.SetMLP", "init_args": {"width": 16, "depth": 1}})
    assert load_set_diffusion(path).hparams.backbone["class_path"] == "r4t.diffusion.backbones.mlp.SetMLP"


def test_backbone_class_path_to_torch_hub_runs_nothing(tiny_data, tmp_path, hub_dir, monkeypatch):
    repo, marker = hub_dir
    evil = {"class_path": "torch.hub.load", "init_args": {"repo_or_dir": str(repo), "model": "entry", "source": "local",
                                                         "trust_repo": True}}
    path = tmp_path / "hub.ckpt"
    _save(SetDiffusion(backbone=SMALL, set_size=4, dim=64, sigma_data=0.1), path, backbone=evil)
    with pytest.raises(SystemExit):  # the attack is real: Lightning's own loader runs hubconf.py
        SetDiffusion.load_from_checkpoint(path, weights_only=True)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(ConfigError, match="refusing backbones class_path 'torch.hub.load'"):
        retrievers.build({"name": "r4t_diffusion", "checkpoint": str(path)}, data=tiny_data)
    assert not marker.exists()


def test_logging_basicconfig_cannot_create_a_file(tiny_data, tmp_path):
    target = tmp_path / "anywhere.log"
    path = tmp_path / "log.ckpt"
    _save(SetDiffusion(backbone=SMALL, set_size=4, dim=64, sigma_data=0.1), path,
          backbone={"class_path": "logging.basicConfig", "init_args": {"filename": str(target)}})
    with pytest.raises(ConfigError, match="refusing backbones class_path 'logging.basicConfig'"):
        load_set_diffusion(path)
    assert not target.exists()


@pytest.mark.parametrize("where", ["backbone", "instantiator", "nested"])
def test_no_module_outside_r4t_is_imported(tiny_data, tmp_path, planted_module, where):
    override = {"backbone": {"backbone": {"class_path": "evil_pkg.payload"}},
                "instantiator": {"_instantiator": "evil_pkg.payload"},
                "nested": {"backbone": {"name": "mlp", "width": {"class_path": "evil_pkg.payload"}}}}[where]
    path = tmp_path / f"{where}.ckpt"
    _save(SetDiffusion(backbone=SMALL, set_size=4, dim=64, sigma_data=0.1), path, **override)
    if where == "backbone":
        with pytest.raises(SystemExit):  # Lightning's loader imports and calls the backbone's class_path
            SetDiffusion.load_from_checkpoint(path, weights_only=True)
        planted_module.unlink()
        sys.modules.pop("evil_pkg", None)
    with pytest.raises(ConfigError, match="refusing|nested class_path"):
        load_set_diffusion(path)
    assert not planted_module.exists() and "evil_pkg" not in sys.modules


def test_unknown_hyperparameters_are_refused(tmp_path):
    path = tmp_path / "extra.ckpt"
    _save(SetDiffusion(backbone=SMALL, set_size=4, dim=64, sigma_data=0.1), path, _class_path="evil_pkg.Model")
    with pytest.raises(ConfigError, match=r"unknown hyper-parameters \['_class_path'\]"):
        load_set_diffusion(path)


@pytest.mark.parametrize("kind, message", [
    ("empty", "is empty"), ("text", "not a readable torch checkpoint|refused"), ("truncated", "not a readable torch checkpoint"),
    ("directory", "is a directory"), ("missing", "not found"), ("remote", "only local files are loaded"),
])
def test_unreadable_checkpoints_fail_in_one_line(tmp_path, kind, message):
    good = tmp_path / "good.ckpt"
    _save(SetDiffusion(backbone=SMALL, set_size=4, dim=64, sigma_data=0.1), good)
    path = tmp_path / f"{kind}.ckpt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("model: not a checkpoint\n")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "directory":
        path.mkdir()
    elif kind == "remote":
        path = "https://example.invalid/model.ckpt"
    with pytest.raises((ConfigError, DataError), match=message) as info:
        load_set_diffusion(path)
    assert "\n" not in str(info.value)


def test_cli_refuses_a_crafted_checkpoint_in_retrieve_and_fit(tmp_path, monkeypatch, capsys, planted_module):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    _save(SetDiffusion(backbone=SMALL, set_size=4, dim=64, sigma_data=0.1), path, backbone={"class_path": "evil_pkg.payload"})
    assert main(["retrieve", "-c", str(CONF / "tiny.yaml"), "--ckpt", str(path), "--query", "jazz"]) == 2
    assert "refusing backbones class_path 'evil_pkg.payload'" in capsys.readouterr().err
    # LightningCLI merges a --ckpt_path's hyper-parameters into the model config: refused before that
    assert main(["fit", "-c", str(CONF / "tiny.yaml"), "--ckpt_path", str(path)]) == 2
    assert "refusing backbones class_path 'evil_pkg.payload'" in capsys.readouterr().err
    assert main(["fit", "-c", str(CONF / "tiny.yaml"), "--ckpt_path", "https://example.invalid/x.ckpt"]) == 2
    assert "only local files are loaded" in capsys.readouterr().err
    assert not planted_module.exists() and "evil_pkg" not in sys.modules
