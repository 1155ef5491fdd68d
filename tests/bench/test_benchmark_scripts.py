"""The stand-alone suites in benchmarks/ run and print their table (tiny sizes)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import faiss

ROOT = Path(__file__).resolve().parents[2]


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
    config = tmp_path / "tiny-minilm.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\ncatalog: {{name: music, size: tiny, seed: 0}}\n"
                      "embedder: {name: minilm}\nindex: {factory: Flat, metric: ip}\n")
    monkeypatch.setattr(sys, "argv", ["encoder_precision.py", "-c", str(config), "--batch-sizes", "2", "--repeats", "1"])
    runpy.run_path(str(ROOT / "benchmarks" / "encoder_precision.py"), run_name="__main__")
    rows = {line.split("|")[1].strip(): line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"32", "bf16-mixed"}
    assert rows["32"][3].strip() == "1.000000 / 1.000000" and rows["32"][4].strip() == "1.0000"  # the reference itself
    assert float(rows["bf16-mixed"][3].split("/")[0]) > 0.999
