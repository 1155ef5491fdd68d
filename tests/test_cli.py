"""The CLI in-process through main([...]) on the tiny config."""

import pytest

from r4t.cli import main
from tests.conftest import TINY_CONFIG


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_help_and_unknown_command(capsys):
    assert main([]) == 0 and "commands:" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2 and "unknown command 'frobnicate'" in capsys.readouterr().err


def test_list_all_and_one_kind(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in ("catalogs:", "embedders:", "backbones:", "rewards:", "retrievers:"):
        assert kind in out
    assert main(["list", "rewards"]) == 0
    out = capsys.readouterr().out
    assert "vendi_diversity" in out and "catalogs:" not in out


def test_print_config(capsys):
    assert main(["fit", "-c", str(TINY_CONFIG), "--print_config"]) == 0
    out = capsys.readouterr().out
    assert "catalog:" in out and "coherent_transformer" in out and "max_epochs: 1" in out


def test_data_then_fit_fast_dev_run(tmp_path, capsys):
    assert main(["data", "-c", str(TINY_CONFIG)]) == 0
    assert "ready in" in capsys.readouterr().out
    assert main(["fit", "-c", str(TINY_CONFIG), "--trainer.fast_dev_run=true"]) == 0
    assert (tmp_path / "runs" / "tiny" / "cache").is_dir()


def test_fit_trains_and_checkpoint_rebuilds_itself(tmp_path):
    from r4t.diffusion.module import SetDiffusion

    assert main(["fit", "-c", str(TINY_CONFIG), "--trainer.enable_checkpointing=true", "--trainer.max_epochs=2"]) == 0
    ckpts = list((tmp_path / "runs" / "tiny" / "diffusion").rglob("*.ckpt"))
    assert ckpts, "no checkpoint written"
    model = SetDiffusion.load_from_checkpoint(ckpts[0], weights_only=True)
    assert model.hparams.dim == 64 and model.denoiser is not None
    for command in ("validate", "test"):
        assert main([command, "-c", str(TINY_CONFIG), f"--ckpt_path={ckpts[0]}"]) == 0


def test_config_errors_are_one_line_with_key_paths(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_CONFIG.read_text().replace("name: hashing", "name: hashin").replace("coherent_transformer", "transformr"))
    assert main(["data", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "embedder: unknown embedders 'hashin'. Did you mean 'hashing'?" in err
    assert "model.backbone: unknown backbones 'transformr'" in err
    assert "Traceback" not in err
    assert main(["fit", "-c", str(bad)]) == 2
    assert "unknown embedders 'hashin'" in capsys.readouterr().err

    typo = tmp_path / "typo.yaml"
    typo.write_text(TINY_CONFIG.read_text() + "\ncatalogue: {name: music}\n")
    assert main(["data", "-c", str(typo)]) == 2
    assert "unknown top-level key(s) ['catalogue']" in capsys.readouterr().err
    assert main(["data", "-c", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_fit_runs_the_whole_pipeline_then_retrieve(tmp_path, capsys):
    r4t_config = TINY_CONFIG.with_name("tiny-r4t.yaml")
    assert main(["fit", "-c", str(r4t_config), "--trainer.enable_checkpointing=true"]) == 0
    out = capsys.readouterr().out
    for stage in ("[r4t data] catalog: built", "[r4t rl] warm-start:", "[r4t rl] saved", "[r4t synthesize] rank 0/1:"):
        assert stage in out
    import re

    assert re.search(r"\[r4t fit\] stage times: data [\d.]+s, RL policy [\d.]+s, synthesis [\d.]+s", out)  # returned by Pipeline.ensure
    (ckpt,) = (tmp_path / "runs" / "tiny" / "diffusion" / "checkpoints").rglob("last.ckpt")
    assert main(["fit", "-c", str(r4t_config), "--trainer.enable_checkpointing=true"]) == 0  # second run: every stage reused
    out = capsys.readouterr().out
    assert "RL policy: reusing" in out and "shards: reusing" in out and "warm-start:" not in out and "synthesis 0.0s" in out
    assert f"resuming from {ckpt.relative_to(tmp_path)}" in out  # the finished fit is not retrained
    assert main(["retrieve", "-c", str(r4t_config), "--ckpt", str(ckpt), "--query", "jazz for studying", "--set_size", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "query: jazz for studying" and len(lines) == 6 and "track-" in lines[1]
    assert main(["retrieve", "-c", str(r4t_config), "--query", "x"]) == 2
    assert "give --ckpt" in capsys.readouterr().err


def test_benchmark_skip_leaves_out_default_retrievers(tmp_path, capsys):
    args = ["benchmark", "-c", str(TINY_CONFIG), "--no-latency", "--max-queries", "2", "--wscr-depth", "0", "--registry", "reg"]
    assert main([*args, "--skip", "latency_only_fanout", "latency_only_diffusion", "dpp"]) == 0
    written = {p.parent.name for p in (tmp_path / "reg").rglob("*.json")}
    assert written == {"dense_topk", "query_jitter-scale-1", "mmr-lambda-0.5"}  # no policy or checkpoint in the run dir; skipped ones absent
    assert main([*args, "--skip", "dense_topkk"]) == 2
    assert "Did you mean 'dense_topk'" in capsys.readouterr().err


def test_dotted_overrides_merge_into_yaml_mappings_with_yaml_types(capsys):
    import yaml

    assert main(["fit", "-c", str(TINY_CONFIG), "--model.backbone.width", "16", "--synth.samples_per_query", "3",
                 "--index.nprobe", "4", "--print_config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    backbone = cfg["model"]["backbone"]
    assert backbone["width"] == 16 and backbone["name"] == "coherent_transformer"  # the rest of the YAML mapping is kept
    assert cfg["synth"]["samples_per_query"] == 3 and cfg["index"]["nprobe"] == 4
