"""benchmarks/gpu/: the device script runs end to end in its CPU smoke mode, so it cannot rot between GPU runs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from r4t.bench.records import validate_record

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "benchmarks" / "gpu"


def load(name: str):
    sys.path.insert(0, str(GPU))
    try:
        spec = importlib.util.spec_from_file_location(f"gpu_{name}", GPU / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(GPU))


@pytest.mark.slow
def test_run_sh_smoke_on_cpu_writes_valid_records_and_a_summary(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(GPU / "run.sh"), str(out), "--device", "cpu", "--smoke"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    labels = [r["retriever"]["label"] for r in records]
    assert labels == ["dense_topk", "r4t_diffusion", "r4t_diffusion (256-step SDE, guidance 0.1)",
                      "latency_only_diffusion (paper size, 256 SDE steps)", "latency_only_fanout (test-tiny, float32, static cache)"]
    for r in records:
        assert validate_record(r) == []
        batches = r["latency"]["batches"]
        assert [b["batch_size"] for b in batches] == [1, 4] and all(len(b["round_s"]) == b["calls"] == 2 for b in batches)
        assert r["latency"]["protocol"]["smoke"] is True and r["hardware"]["device"] == "cpu"
        assert "random weights" in r["retriever"]["notes"] and "torch exact inner product" in r["retriever"]["notes"]
    assert len({r["latency"]["protocol"]["run"] for r in records}) == 1  # one interleaved run: rounds pair up
    summary = (out / "summary.md").read_text()
    assert "## speed-up over latency_only_fanout (test-tiny, float32, static cache)" in summary
    assert "| r4t_diffusion | 4 | 2 |" in summary and "where r4t_diffusion's call goes" in summary
    assert "GPU bundle" not in proc.stderr and (out / "log.txt").read_text().count("[gpu] batch") == 2
    land = load("land")
    with pytest.raises(SystemExit, match="smoke-mode records"):
        land.land(out / "records.jsonl", tmp_path / "registry")


def test_run_sh_refuses_a_missing_out_and_a_cuda_request_without_a_gpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(GPU / "run.sh")], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit) as exit_info:  # in process: the script's check, without a second interpreter start
        load("gpu_latency").main(["--out", str(tmp_path / "o"), "--bundle", str(tmp_path)])
    assert exit_info.value.code == 2


def test_rounds_fit_the_budget():
    choose = load("gpu_latency").choose_rounds
    assert choose(round_s=1.0, remaining_s=100.0, sizes_left=5, lo=5, hi=20) == 20    # 20 s share: 20 rounds
    assert choose(round_s=2.0, remaining_s=100.0, sizes_left=5, lo=5, hi=20) == 10
    assert choose(round_s=10.0, remaining_s=60.0, sizes_left=2, lo=5, hi=20) == 5     # the minimum, if it fits at all
    assert choose(round_s=10.0, remaining_s=40.0, sizes_left=1, lo=5, hi=20) == 0     # 5 rounds do not fit: skipped


def test_bundle_round_trip_and_the_measured_fanout_length(tmp_path):
    bundle = load("bundle")
    folder = bundle.tiny(tmp_path / "b", items=50)
    meta, vectors, ids, texts = bundle.read_bundle(folder)
    assert vectors.shape == (50, meta["catalog"]["dim"]) and len(ids) == len(texts) == 50
    assert abs(float((vectors ** 2).sum(1).mean()) - 1.0) < 1e-6  # renormalised after the float16 round trip
    assert not (folder / "encoder" / "model.safetensors").exists()  # the 90 MB weights stay behind
    records = tmp_path / "registry" / "music-default" / "fanout_lm-rl-tuned-r4t-folm"
    records.mkdir(parents=True)
    (records / "20261201T000000Z-00000000.json").write_text(json.dumps({"retriever": {"notes": "mean fan-out length 323 characters"}}))
    tokens, source = bundle.fanout_length(tmp_path / "registry", "music-default")
    assert tokens == 81 and "323 characters" in source  # ceil(323 / 4), the CPU benchmark's rule
    with pytest.raises(SystemExit, match="not a GPU bundle"):
        bundle.read_bundle(tmp_path)
