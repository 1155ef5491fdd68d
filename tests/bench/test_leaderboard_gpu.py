"""The leaderboard keeps GPU records in their own section and pairs the rounds of one run."""

from __future__ import annotations

import copy

import numpy as np

from r4t.bench.leaderboard import latest, render_markdown
from r4t.bench.leaderboard_gpu import gpu_section, paired_speedups, split_by_device
from r4t.bench.records import new_run_id, validate_record


def gpu_record(label: str, name: str, rounds: dict[int, list[float]], run: str = "20261201T000000Z-aaaaaaaa",
               device: str = "cuda") -> dict:
    batches = [{"batch_size": b, "calls": len(t), "p50_s": float(np.median(t)), "p95_s": float(np.percentile(t, 95)),
                "p99_s": float(np.percentile(t, 99)), "mean_s": float(np.mean(t)), "queries_per_s": b / float(np.mean(t)),
                "breakdown_s": {"generate": float(np.mean(t)) * 0.5}, "round_s": t} for b, t in rounds.items()]
    gpu = "NVIDIA H200" if device == "cuda" else None
    record = {
        "schema_version": 1, "run_id": "", "date": "2026-12-01T00:00:00+00:00", "command": "bash benchmarks/gpu/run.sh OUT",
        "catalog": {"name": "music-default", "items": 24000, "split": "test", "k": 10},
        "retriever": {"name": name, "label": label, "slug": label.split(" ")[0], "spec": {"name": name},
                      "latency_only": name.startswith("latency_only"), "parameters": None, "notes": ""},
        "config_hash": "x", "data_fingerprint": "y", "checkpoint_sha256": None, "seeds": {},
        "versions": {"r4t": "0.1.0", "torch": "2.11.0", "faiss": "1.15.1", "transformers": "5.17.0", "python": "3.12.3"},
        "hardware": {"cpu": "Xeon", "logical_cpus": 16, "gpu": gpu, "device": device,
                     "summary": f"Xeon, 16 logical CPUs, GPU: {gpu}; timed on {device}"},
        "quality": None,
        "latency": {"protocol": {"kind": "interleaved", "run": run}, "batches": batches, "skipped_batch_sizes": [1024]},
    }
    record["run_id"] = new_run_id(record)
    assert validate_record(record) == []
    return record


LM = "latency_only_fanout (qwen3-4b, bf16, static cache)"


def test_speedup_is_the_median_of_per_round_ratios_within_one_run():
    lm = gpu_record(LM, "latency_only_fanout", {8: [2.0, 4.0, 6.0]})
    r4t = gpu_record("r4t_diffusion", "r4t_diffusion", {8: [1.0, 1.0, 1.0]})
    other_run = gpu_record("dense_topk", "dense_topk", {8: [0.5, 0.5, 0.5]}, run="20261201T000000Z-bbbbbbbb")
    speedups = paired_speedups([lm, r4t, other_run])
    assert [(label, b) for label, b, _, _ in speedups] == [("r4t_diffusion", 8)]  # another run's rounds never pair
    est = speedups[0][2]
    assert est.mean == 4.0 and est.n == 3 and 2.0 <= est.lo <= est.hi <= 6.0


def test_gpu_rows_get_their_own_section_and_cpu_rows_keep_theirs():
    lm = gpu_record(LM, "latency_only_fanout", {8: [2.0, 4.0, 6.0], 1: [1.0, 1.0, 1.0]})
    r4t = gpu_record("r4t_diffusion", "r4t_diffusion", {8: [1.0, 1.0, 1.0], 1: [0.5, 0.5, 0.5]})
    cpu = gpu_record("dense_topk", "dense_topk", {8: [0.01, 0.01, 0.01]}, device="cpu")
    cpu["latency"]["protocol"] = {"batch_sizes": [8]}
    assert split_by_device([lm, cpu, r4t]) == ([cpu], [lm, r4t])
    lines = gpu_section([lm, r4t])
    assert lines[0] == "### GPU records"
    assert any(line.startswith("| r4t_diffusion | 8 | 4.0x [") and "~21x" in line for line in lines)
    assert any(line.startswith("| r4t_diffusion | 1 | 2.0x [") for line in lines)
    row = next(line for line in lines if line.startswith(f"| {LM}"))
    assert "*(latency only, random weights)*" in row and "skipped (budget)" in row  # batch 1024 was skipped
    md = render_markdown(latest([lm, r4t, copy.deepcopy(cpu)]), {})
    cpu_table, gpu_part = md.split("### GPU records")
    assert "| dense_topk" in cpu_table and "r4t_diffusion" not in cpu_table.split("## music-default")[1]
    assert "| r4t_diffusion | 8 | 4.0x" in gpu_part and "dense_topk" not in gpu_part
