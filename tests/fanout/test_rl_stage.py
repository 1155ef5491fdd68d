"""`r4t rl` through the real CLI on the tiny config: outputs, reuse, resume, both regimes."""

import json

import pytest

from r4t.cli import main
from tests.conftest import TINY_CONFIG


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def rl_dirs(tmp_path):
    return sorted(p for p in (tmp_path / "runs" / "tiny" / "cache" / "rl").iterdir() if p.is_dir())


def test_rl_writes_policy_logs_and_reuses(tmp_path, capsys):
    import random

    import numpy as np
    import torch

    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    assert main(["rl", "-c", str(TINY_CONFIG)]) == 0
    # trl's trainer seeds every generator globally; the caller's streams come back as they were
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    out = capsys.readouterr().out
    assert "warm-start policy on 4 val queries" in out and "saved" in out
    (run,) = rl_dirs(tmp_path)
    assert (run / "final" / "model.safetensors").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["warm_start"]) >= {"reward", "groundedness", "vendi_diversity", "alignment", "parse_failure_rate"}
    header = (run / "metrics.csv").read_text().splitlines()[0]
    for column in ("reward", "rewards/groundedness/mean", "entropy", "approx_kl_to_sampler", "parse_failure_rate"):
        assert column in header
    assert (run / "curve.png").exists()
    assert main(["rl", "-c", str(TINY_CONFIG)]) == 0
    assert "RL policy: reusing" in capsys.readouterr().out


def test_rl_resumes_from_checkpoint(tmp_path, capsys):
    assert main(["rl", "-c", str(TINY_CONFIG), "--steps", "2"]) == 0
    (run,) = rl_dirs(tmp_path)
    assert list(run.glob("checkpoint-*"))
    # a longer run with the same config except steps starts a new folder; simulate an
    # interrupted run instead by removing the finished policy and re-running the same command
    import shutil

    shutil.rmtree(run / "final")
    capsys.readouterr()
    assert main(["rl", "-c", str(TINY_CONFIG), "--steps", "2"]) == 0
    assert "resuming from the newest checkpoint" in capsys.readouterr().out
    assert (run / "final" / "config.json").exists()


def test_wscr_regime_and_bad_sections(tmp_path, capsys):
    wscr = tmp_path / "wscr.yaml"
    wscr.write_text(TINY_CONFIG.read_text().replace("  steps: 2\n", "  steps: 1\n  regime: wscr\n  depth: 20\n  loss: grpo\n"))
    assert main(["rl", "-c", str(wscr)]) == 0  # trl's own GRPO loss on the compositional regime
    out = capsys.readouterr().out
    assert "reference_recall" in out and "grpo: 1 steps" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_CONFIG.read_text().replace("  steps: 2\n", "  stpes: 2\n"))
    assert main(["rl", "-c", str(bad)]) == 2
    assert "rl: unknown key 'stpes'. Did you mean 'steps'?" in capsys.readouterr().err


def test_lora_rl_merges_adapters_into_the_saved_policy(tmp_path, capsys):
    pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    lora = tmp_path / "lora.yaml"
    lora.write_text(TINY_CONFIG.read_text().replace("  steps: 2\n", "  steps: 1\n  lora: {r: 4, alpha: 8}\n"))
    assert main(["rl", "-c", str(lora)]) == 0
    (run,) = rl_dirs(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(run / "final")
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged, a plain model again


def test_rl_trains_on_the_served_set_and_skips_parse_failures(tmp_path, capsys):
    """The two RL options of issue #16 run through trl's trainer (None rewards included)."""
    cfg = tmp_path / "served.yaml"
    cfg.write_text(TINY_CONFIG.read_text().replace("  steps: 2\n", "  steps: 1\n  reward_on: served\n  unparsable: skip\n"))
    assert main(["rl", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "RL policy on the same val queries" in out and "saved" in out
    (run,) = rl_dirs(tmp_path)
    assert (run / "final" / "model.safetensors").exists() and (run / "metrics.csv").exists()


def test_rl_rewards_the_anchored_rows_dpp_set_fanout_lm_serves(tmp_path, capsys):
    """rl.anchor + rl.grounding: rows_dpp reach the trainer's grounder (and name their own cache)."""
    cfg = tmp_path / "rows_dpp.yaml"
    cfg.write_text(TINY_CONFIG.read_text().replace("  steps: 2\n", "  steps: 1\n  reward_on: served\n  anchor: 0.5\n  grounding: rows_dpp\n  alpha: 3.0\n"))
    assert main(["rl", "-c", str(cfg)]) == 0
    assert "RL policy on the same val queries" in capsys.readouterr().out
    (run,) = rl_dirs(tmp_path)
    assert (run / "final" / "model.safetensors").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_CONFIG.read_text().replace("  steps: 2\n", "  steps: 1\n  grounding: rows_dpp\n"))
    assert main(["rl", "-c", str(bad)]) != 0
    assert "reward_on: served" in capsys.readouterr().err


def test_constrained_rl_has_no_parse_failures_and_serves_constrained(tmp_path, capsys):
    """policy.constrained: trl's own generate samples only well-formed fan-outs, and the saved
    policy decodes the same way when fanout_lm loads it (no flag needed there)."""
    import csv

    cfg = tmp_path / "constrained.yaml"
    cfg.write_text(TINY_CONFIG.read_text().replace("  subqueries: 3 ", "  constrained: true\n  subqueries: 3 ").replace("  steps: 2\n", "  steps: 1\n"))
    assert "constrained: true" in cfg.read_text()
    assert main(["rl", "-c", str(cfg)]) == 0
    assert "parse failures 0.0%" in capsys.readouterr().out
    (run,) = rl_dirs(tmp_path)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert rows and all(float(r["parse_failure_rate"]) == 0.0 for r in rows)  # every completion trl sampled parsed
    assert json.loads((run / "final" / "r4t_policy.json").read_text())["constrained"] is True
    from r4t.retrievers.fanout import _load

    policy = _load(str(run / "final"), subqueries=3, temperature=0.9, max_new_tokens=40, domain="music")
    assert policy.constrained and "generate" not in vars(policy.model)


@pytest.mark.parametrize("loss,scale", [("dr_grpo", "none"), ("dapo", "batch")])
def test_trl_loss_types_and_reward_scaling_reach_the_trainer(tmp_path, capsys, monkeypatch, loss, scale):
    """rl.loss names trl's loss_type (the length-normalisation lever of #16) and rl.scale_rewards its
    advantage scaling; each is part of the RL cache key, so it never reuses a policy trained otherwise."""
    import trl

    seen = {}
    real = trl.GRPOConfig

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(trl, "GRPOConfig", recording)
    cfg = tmp_path / f"{loss}.yaml"
    cfg.write_text(TINY_CONFIG.read_text().replace("  steps: 2\n", f"  steps: 1\n  loss: {loss}\n  scale_rewards: {scale}\n"))
    assert main(["rl", "-c", str(cfg)]) == 0
    assert f"{loss}: 1 steps" in capsys.readouterr().out
    assert (seen["loss_type"], seen["scale_rewards"]) == (loss, scale)
    assert main(["rl", "-c", str(TINY_CONFIG), "--steps", "1"]) == 0
    assert seen["loss_type"] == "grpo" and seen["scale_rewards"] == "group"  # soft_grpo computes its own loss; trl's default scaling
    assert len(rl_dirs(tmp_path)) == 2


def test_rl_raises_the_held_out_reward_without_the_format_lever(tmp_path, capsys):
    """#16: a small end-to-end RL run whose held-out (val) reward rises. Constrained decoding makes every
    fan-out parse before and after, so the rise is content (the composite's terms), not the output format.
    Measured on this config: +0.027, +0.021, +0.040 for seeds 0/1/2 at 60 steps (30 steps: one seed fell)."""
    cfg = tmp_path / "rise.yaml"
    text = (TINY_CONFIG.read_text()
            .replace("  subqueries: 3 ", "  constrained: true\n  subqueries: 3 ")
            .replace("  steps: 2\n", "  steps: 60\n  learning_rate: 1.0e-3\n")
            .replace("  eval_queries: 4", "  eval_queries: 8\n  eval_samples: 8"))
    cfg.write_text(text)
    assert "steps: 60" in text and "eval_samples: 8" in text and "constrained: true" in text
    assert main(["rl", "-c", str(cfg)]) == 0
    assert "val queries x 8 samples" in capsys.readouterr().out
    (run,) = rl_dirs(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    before, after = summary["warm_start"], summary["rl"]
    assert summary["eval_samples"] == 8 and summary["val_queries"] == 6
    assert before["parse_failure_rate"] == after["parse_failure_rate"] == 0.0
    assert after["reward"] > before["reward"] + 0.01, (before, after)
