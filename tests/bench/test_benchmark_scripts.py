"""The stand-alone suites in benchmarks/ run and print their table (tiny sizes)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import faiss
import pytest

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(tmp_path: Path, embedder: str = "{name: hashing, dim: 64}") -> Path:
    """A config for the tiny generated music catalog, with its own run directory."""
    config = tmp_path / "tiny.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ncatalog: {{name: music, size: tiny, seed: 0}}\n"
                      f"embedder: {embedder}\nindex: {{factory: Flat, metric: ip}}\n")
    return config


def test_faiss_blas_crossover_prints_both_paths_and_restores_faiss(monkeypatch, capsys):
    before = faiss.cvar.distance_compute_blas_threshold
    monkeypatch.setattr(sys, "argv", ["faiss_blas_crossover.py", "--items", "500", "--dim", "16", "--batches", "1", "64", "--repeats", "1"])
    runpy.run_path(str(ROOT / "benchmarks" / "faiss_blas_crossover.py"), run_name="__main__")
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 1 |") or line.startswith("| 64 |")]
    assert len(rows) == 2
    assert rows[0].endswith("| scan | scan |")  # 16 < 128000 and 16 < 800 per thread
    assert rows[1].split("|")[-2].strip() == ("BLAS" if 64 * 16 >= 800 * faiss.omp_get_max_threads() else "scan")
    assert faiss.cvar.distance_compute_blas_threshold == before


def test_encoder_precision_prints_one_row_per_precision(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path, embedder="{name: minilm}")
    monkeypatch.setattr(sys, "argv", ["encoder_precision.py", "-c", str(config), "--batch-sizes", "2", "--repeats", "1"])
    runpy.run_path(str(ROOT / "benchmarks" / "encoder_precision.py"), run_name="__main__")
    rows = {line.split("|")[1].strip(): line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"32, plain forward", "32", "bf16-mixed"}
    reference = rows["32, plain forward"]
    assert reference[3].strip() == "1.000000 / 1.000000" and reference[4].strip() == "1.0000"  # the reference itself
    assert float(rows["32"][3].split("/")[0]) > 1 - 1e-6  # the fast path: float32 rounding only
    assert float(rows["bf16-mixed"][3].split("/")[0]) > 0.999


def test_paired_speedup_prints_reference_and_candidates_with_intervals(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["paired_speedup.py", "-c", str(config), "--reference", "dense_topk",
                                      "--retrievers", "mmr (lambda 0.5)", "--rounds", "3"])
    runpy.run_path(str(ROOT / "benchmarks" / "paired_speedup.py"), run_name="__main__")
    rows = {line.split("|")[1].strip(): line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert rows["dense_topk"][4].strip() == "1.00x [1.00, 1.00]"  # the reference against itself
    speedup, ci = rows["mmr (lambda 0.5)"][4].strip().split("x ")
    lo, hi = (float(v) for v in ci.strip("[]").split(","))
    assert lo <= float(speedup) <= hi


def test_paired_speedup_takes_extra_specs_as_references(tmp_path, monkeypatch, capsys):
    """A latency-only LLM given by spec (with the token count to decode) is a reference like a default entry."""
    config = tiny_config(tmp_path)
    spec = '{"name": "latency_only_fanout", "arch": "test-tiny", "new_tokens": 3, "subqueries": 2, "label": "latency_only_fanout (tiny)"}'
    monkeypatch.setattr(sys, "argv", ["paired_speedup.py", "-c", str(config), "--spec", spec, "--reference", "latency_only_fanout (tiny)",
                                      "--retrievers", "dense_topk", "--rounds", "3", "--batch", "2"])
    runpy.run_path(str(ROOT / "benchmarks" / "paired_speedup.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "random weights (latency only), 3 tokens decoded per fan-out" in out
    rows = {line.split("|")[1].strip(): line.split("|") for line in out.splitlines() if line.startswith("| ")}
    assert rows["latency_only_fanout (tiny)"][4].strip() == "1.00x [1.00, 1.00]"
    assert "dense_topk" in rows


def test_paired_speedup_names_unknown_entries_and_embedders_without_precision(tmp_path, monkeypatch):
    from r4t.errors import ConfigError

    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["paired_speedup.py", "-c", str(config)])  # no RL policy in this run dir
    with pytest.raises(ConfigError, match="no benchmark entry"):
        runpy.run_path(str(ROOT / "benchmarks" / "paired_speedup.py"), run_name="__main__")
    monkeypatch.setattr(sys, "argv", ["paired_speedup.py", "-c", str(config), "--reference", "dense_topk", "--query-precision", "bf16-mixed"])
    with pytest.raises(ConfigError, match="no precision setting"):
        runpy.run_path(str(ROOT / "benchmarks" / "paired_speedup.py"), run_name="__main__")


def test_query_jitter_scale_is_tuned_on_val_only(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["query_jitter_scale.py", "-c", str(config), "--scales", "0,1", "--seeds", "0", "--match", ""])
    runpy.run_path(str(ROOT / "benchmarks" / "query_jitter_scale.py"), run_name="__main__")
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|") for line in out.splitlines() if line.startswith("| ") and "scale" not in line}
    assert set(rows) == {"0", "1"} and "(val, open queries)" in out and "Best val judge mean: scale" in out
    for cells in rows.values():
        mean, ci = cells[2].strip().split(" [")
        lo, hi = (float(v) for v in ci.strip("]").split(","))
        assert 20 <= lo <= float(mean) <= hi <= 100
    monkeypatch.setattr(sys, "argv", ["query_jitter_scale.py", "-c", str(config), "--split", "test"])
    with pytest.raises(SystemExit):  # test queries are never used to tune
        runpy.run_path(str(ROOT / "benchmarks" / "query_jitter_scale.py"), run_name="__main__")


def test_baseline_tuning_sweeps_both_baselines_on_val_only(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["baseline_tuning.py", "-c", str(config), "--dpp_alphas", "1,5", "--mmr_lambdas", "0.5,1.0", "-k", "3"])
    runpy.run_path(str(ROOT / "benchmarks" / "baseline_tuning.py"), run_name="__main__")
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ") and "retriever" not in line]
    assert [(r[1].strip(), r[2].strip()) for r in rows] == [("dpp", "alpha 1"), ("dpp", "alpha 5"), ("mmr", "lambda_ 0.5"), ("mmr", "lambda_ 1")]
    means = {r[2].strip(): float(r[3].split(" [")[0]) for r in rows}
    best_dpp = max(("alpha 1", "alpha 5"), key=lambda v: means[v])  # first of a tie wins, as the script's strict >
    assert f"dpp alpha {best_dpp.split()[1]} ({means[best_dpp]:.1f})" in out and "Config: `benchmark: {dpp_alpha:" in out
    monkeypatch.setattr(sys, "argv", ["baseline_tuning.py", "-c", str(config), "--split", "test"])
    with pytest.raises(SystemExit):  # test queries are never used to tune
        runpy.run_path(str(ROOT / "benchmarks" / "baseline_tuning.py"), run_name="__main__")


def test_compare_retrievers_pairs_against_the_first_on_val(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["compare_retrievers.py", "-c", str(config), "--retriever", "dense=dense_topk",
                                      "--retriever", 'again={"name": "dense_topk"}', "--retriever", 'mmr={"name": "mmr", "lambda_": 0.3}'])
    runpy.run_path(str(ROOT / "benchmarks" / "compare_retrievers.py"), run_name="__main__")
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|") for line in out.splitlines() if line.startswith("| ") and "retriever" not in line}
    assert set(rows) == {"dense", "again", "mmr"} and "val open queries" in out
    assert rows["again"][2].strip().endswith("; +0.0 (p = 1.000)")  # the same retriever: no difference, p = 1
    assert "(p = " in rows["mmr"][2] and "(p = " not in rows["dense"][2]
    monkeypatch.setattr(sys, "argv", ["compare_retrievers.py", "-c", str(config), "--retriever", "a=dense_topk", "--retriever", "b=mmr",
                                      "--split", "test"])
    with pytest.raises(SystemExit):  # never on test queries
        runpy.run_path(str(ROOT / "benchmarks" / "compare_retrievers.py"), run_name="__main__")


def test_reward_vs_judge_correlates_signals_within_queries(tmp_path, monkeypatch, capsys, tiny_policy_dir):
    ns = runpy.run_path(str(ROOT / "benchmarks" / "reward_vs_judge.py"))
    spearman = ns["spearman"]
    import numpy as np

    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    assert np.isnan(spearman(np.array([1.0, 1, 1]), np.array([1.0, 2, 3])))  # a constant signal says nothing
    config = tiny_config(tmp_path)
    config.write_text(config.read_text() + "policy: {k: 3, max_new_tokens: 64}\n")
    monkeypatch.setattr(sys, "argv", ["reward_vs_judge.py", "-c", str(config), "--policy", str(tiny_policy_dir),
                                      "--samples", "4", "--queries", "6", "-k", "5", "--anchor", "0.5", "--dpp_alphas", "3"])
    runpy.run_path(str(ROOT / "benchmarks" / "reward_vs_judge.py"), run_name="__main__")
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|") for line in out.splitlines() if line.startswith("| ") and "signal" not in line}
    assert "train/composite" in rows and "served/alignment" in rows and not any(name.startswith("served/judge") for name in rows)
    assert "served/logdet_diversity" in rows and "served/dpp_objective(alpha=3)" in rows
    assert "served from anchor 0.5" in out
    for cells in rows.values():
        if cells[2].strip() != "n/a":
            mean = float(cells[2].split(" [")[0])
            assert -1.0 <= mean <= 1.0


def test_fanout_pool_dpp_pairs_every_row_with_dpp(tmp_path, monkeypatch, capsys, tiny_policy_dir):
    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["fanout_pool_dpp.py", "-c", str(config), "--policy", str(tiny_policy_dir), "-k", "3",
                                      "--depths", "4", "--alphas", "3"])
    runpy.run_path(str(ROOT / "benchmarks" / "fanout_pool_dpp.py"), run_name="__main__")
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and not line.startswith("| set")]
    assert len(rows) == 3 and rows[0].startswith("| dpp (alpha 3")
    assert all("(p = " in line for line in rows[1:])  # every other row is paired against dpp


def test_fanout_pool_dpp_pools_any_retrievers_directions(tmp_path, monkeypatch, capsys):
    """--source without --policy: a query_jitter of scale 0 writes ten copies of the query, so
    its pool is the query's top-depth and DPP over it is the dpp row exactly (same alpha, same
    candidates whenever depth reaches the dpp pool): the row pairs at +0.0."""
    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["fanout_pool_dpp.py", "-c", str(config), "-k", "3", "--depths", "100", "--alphas", "3",
                                      "--source", 'still={"name": "query_jitter", "scale": 0.0}'])
    runpy.run_path(str(ROOT / "benchmarks" / "fanout_pool_dpp.py"), run_name="__main__")
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and not line.startswith("| set")]
    assert [r.split("|")[1].strip() for r in rows] == ["dpp (alpha 3, dense top-100)", "still: own sets (distinct nearest item per direction)",
                                                        "still: pool (top-100 per direction), DPP alpha 3"]
    assert rows[2].split("|")[2].split(";")[1].strip().startswith("+0.0 (p = 1.000)")


def test_fanout_pool_dpp_needs_something_to_pool(tmp_path, monkeypatch):
    from r4t.errors import ConfigError

    monkeypatch.setattr(sys, "argv", ["fanout_pool_dpp.py", "-c", str(tiny_config(tmp_path))])
    with pytest.raises(ConfigError, match="--policy or at least one --source"):
        runpy.run_path(str(ROOT / "benchmarks" / "fanout_pool_dpp.py"), run_name="__main__")


def test_warmstart_targets_judges_every_design_and_the_upper_bound_is_exact(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path)
    monkeypatch.setattr(sys, "argv", ["warmstart_targets.py", "-c", str(config), "--anchors", "0", "--max-queries", "6"])
    runpy.run_path(str(ROOT / "benchmarks" / "warmstart_targets.py"), run_name="__main__")
    rows = {line.split("|")[1].strip(): line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "design" not in line}
    assert len(rows) == 6
    # a member's own text grounds to that member: every item of a curated (on-intent) collection is on intent
    upper = rows["the member's own text (upper bound)"]
    assert float(upper[5]) == 100.0  # judge alignment
    assert float(upper[3]) > float(rows["item_phrase, phrase_keep 0.8 (the default)"][3])  # judge mean


def test_diffusion_fit_check_scores_a_teacher_that_is_dense_topk_as_a_perfect_fit(tiny_data, tmp_path, monkeypatch, capsys):
    """Shards whose every sample is the query's dense top-10: dense top-k reproduces them exactly
    (hit and best overlap 100), and so does the held-out teacher row; a jittered control does not."""
    import numpy as np

    from r4t.synth.shards import encode_sample, write_shard

    data = tiny_data
    config = tmp_path / "tiny.yaml"  # the session fixture's run directory: its catalog and vectors are reused
    config.write_text(f"run_dir: {data.paths['catalog'].parents[2]}\ncatalog: {{name: music, size: tiny}}\n"
                      "embedder: {name: hashing, dim: 64}\nindex: {factory: Flat, metric: ip}\n")
    queries = data.catalog.queries_for("train", "open")[:8]
    rows = {q.qid: n for n, q in enumerate(data.catalog.queries)}
    samples = []
    for q in queries:
        items = data.item_index.search(data.query_emb[rows[q.qid]][None], 10)[1][0].tolist()
        for s in range(2):
            samples.append(encode_sample(f"{q.qid}-{s}", q.text, data.query_emb[rows[q.qid]], data.item_emb[items], {"total": 0.0},
                                         {"qid": q.qid, "items": items}))
    write_shard(tmp_path / "shards" / "shard-00000.tar", samples)
    monkeypatch.setattr(sys, "argv", ["diffusion_fit_check.py", "-c", str(config), "--shards", str(tmp_path / "shards"),
                                      "--retriever", "dense=dense_topk",
                                      "--retriever", 'jitter={"name": "query_jitter", "scale": 3.0}'])
    runpy.run_path(str(ROOT / "benchmarks" / "diffusion_fit_check.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert f"{len(queries)} train open queries" in out
    table = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in out.splitlines() if line.startswith("| ")}
    for name in ("teacher (one held-out sample)", "dense"):
        assert table[name][0].startswith("100.0 [100.0, 100.0]") and table[name][1].startswith("100.0 [100.0, 100.0]")
    assert float(table["jitter"][0].split(" [")[0]) < 100.0
    assert np.isclose(float(table["dense"][2].split(" [")[0]), float(table["teacher (one held-out sample)"][2].split(" [")[0]))


def test_denoiser_by_sigma_a_zero_network_is_the_trivial_denoiser_and_recovers_rows_at_low_noise(tiny_data):
    import torch

    from r4t.diffusion.backbones import backbones
    from r4t.diffusion.denoiser import SetDenoiser

    by_sigma = runpy.run_path(str(ROOT / "benchmarks" / "denoiser_by_sigma.py"))["by_sigma"]
    dim = tiny_data.item_emb.shape[1]
    net = backbones.build({"name": "coherent_transformer", "depth": 1, "width": 16, "mlp": 16, "heads": 2}, dim=dim, set_size=3)
    torch.nn.init.zeros_(net.out.weight)
    torch.nn.init.zeros_(net.out.bias)
    denoiser = SetDenoiser(net, sigma_data=float(tiny_data.item_emb.std()), query_anchor=1.0).eval()
    sets = torch.tensor(tiny_data.item_emb[:12].reshape(4, 3, dim))
    rows = by_sigma(denoiser, sets, torch.tensor(tiny_data.query_emb[:4]), tiny_data.item_index, sigmas=(0.001, 1.0))
    for r in rows:
        assert abs(r["loss"] - r["loss_f0"]) < 1e-5 and r["recovery"] == r["recovery_f0"]
    assert rows[0]["recovery"] == 1.0  # almost no noise: every row is still nearest its own item


def test_registry_rerun_marks_identical_moved_and_missing_numbers(tmp_path, monkeypatch, capsys):
    import json

    def record(registry: str, slug: str, date: str, judge: float, command: str = "r4t benchmark -c c.yaml") -> None:
        metric = {"mean": judge, "ci95": [judge - 1.0, judge + 1.0], "n": 3, "clusters": 3}
        rec = {"catalog": {"name": "cat"}, "retriever": {"slug": slug}, "date": date, "command": command,
               "checkpoint_sha256": None, "quality": {"open": {"metrics": {"judge_mean": metric}}}}
        folder = tmp_path / registry / "cat" / slug
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{date}.json").write_text(json.dumps(rec))

    record("old", "dense_topk", "2026-01-01", 70.0)
    record("old", "dense_topk", "2026-01-02", 99.0, command="r4t benchmark -c other.yaml")  # newer, another run
    record("old", "mmr", "2026-01-01", 60.0)
    record("new", "dense_topk", "2026-02-01", 70.0)
    record("new", "mmr", "2026-02-01", 62.5)
    record("new", "dpp", "2026-02-01", 65.0)
    monkeypatch.setattr(sys, "argv", ["registry_rerun.py", "--old", str(tmp_path / "old"), "--new", str(tmp_path / "new"),
                                      "--catalog", "cat", "--old_command", "-c c.yaml"])
    runpy.run_path(str(ROOT / "benchmarks" / "registry_rerun.py"), run_name="__main__")
    table = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert "| identical | yes |" in table["dense_topk"]  # matched with the run of the same command, not the newer one
    assert "| +2.5000 | **no** |" in table["mmr"]
    assert "no committed record" in table["dpp"]


def test_distill_retriever_trains_a_loadable_student_on_training_queries_only(tmp_path, monkeypatch, capsys):
    import torch

    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.retrievers import retrievers

    config = tiny_config(tmp_path)
    config.write_text(config.read_text() + "model: {backbone: {name: mlp, width: 16, depth: 1}, query_anchor: 1.0, warmup_steps: 2}\n")
    out = tmp_path / "student.ckpt"
    monkeypatch.setattr(sys, "argv", ["distill_retriever.py", "-c", str(config), "--teacher", '{"name": "dpp", "alpha": 3.0}',
                                      "--out", str(out), "--epochs", "1", "--repeat", "2", "-k", "5"])
    runpy.run_path(str(ROOT / "benchmarks" / "distill_retriever.py"), run_name="__main__")
    data = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64},
                                   run_dir=str(tmp_path / "run")), quiet=True)
    n_train = len(data.catalog.queries_for(split="train", kind="open"))
    assert f"{n_train} training queries x 2" in capsys.readouterr().out
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["r4t_data"]["catalog_fingerprint"] == data.catalog.fingerprint()  # the retriever checks it
    assert ckpt["hyper_parameters"]["set_size"] == 5 and ckpt["hyper_parameters"]["query_anchor"] == 1.0
    student = retrievers.build({"name": "r4t_diffusion", "checkpoint": str(out), "sampler": {"name": "dpmpp_2m", "steps": 2}}, data=data)
    sets = student.retrieve_indices(data.query_emb[:3], 5)
    assert all(len(set(s)) == 5 for s in sets)
