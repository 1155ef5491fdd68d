"""The leaderboard's GPU section: records timed on CUDA, apart from the CPU table.

GPU records come from ``benchmarks/gpu/run.sh``: one interleaved run times every method call
by call, and each record keeps its per-round seconds (``round_s``) under a shared run tag
(``latency.protocol.run``). Pairing the rounds of two records of one run gives the speed-up
as the median of per-round ratios with a bootstrap interval (``stats.median_ratio``), the
same estimate ``benchmarks/paired_speedup.py`` prints on CPU; records of different runs are
never paired.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from r4t.bench.records import record_batch
from r4t.bench.stats import median_ratio

GPU_BATCHES = (1, 8, 64, 256, 1024)
REFERENCE_NAME = "latency_only_fanout"  # the 4B-class fan-out LM the paper's speed-up is measured against
PAPER_SPEEDUP = {8: "~21x (1.46 s vs 0.07 s)", 1024: "~12x (~50 s vs 4.21 s)"}


def on_gpu(record: dict[str, Any]) -> bool:
    return record["hardware"].get("device") == "cuda"


def split_by_device(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(CPU rows, GPU rows), each in the given order."""
    return [r for r in rows if not on_gpu(r)], [r for r in rows if on_gpu(r)]


def _run(r: dict[str, Any]) -> str | None:
    return ((r.get("latency") or {}).get("protocol") or {}).get("run")


def paired_speedups(rows: Sequence[dict[str, Any]]) -> list[tuple[str, int, Any, str]]:
    """(label, batch, end-to-end Estimate, machine) of every record against the fan-out LM
    record of the same interleaved run, at each batch size both measured."""
    out = []
    for ref in (r for r in rows if r["retriever"]["name"] == REFERENCE_NAME and _run(r)):
        for r in rows:
            if r is ref or _run(r) != _run(ref):
                continue
            for size in GPU_BATCHES:
                a, b = record_batch(ref, size), record_batch(r, size)
                if a and b and a.get("round_s") and len(a["round_s"]) == len(b.get("round_s") or []):
                    out.append((r["retriever"]["label"], size, median_ratio(np.asarray(a["round_s"]), np.asarray(b["round_s"])),
                                r["hardware"]["summary"]))
    return out


def gpu_section(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: p50 / p99 per batch size, then the paired speed-ups over the fan-out LM."""
    if not rows:
        return []
    head = ["retriever", *[f"p50 / p99 s @ batch {b}" for b in GPU_BATCHES], "machine"]
    lines = ["### GPU records", "",
             "Timed by `benchmarks/gpu/run.sh` (docs/gpu.md): every method call by call in one interleaved run, CUDA-synchronised,",
             "warm-up excluded; each record's notes name its query encoder and search. Latency only: no set quality is scored here.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["retriever"]["label"] + (" *(latency only, random weights)*" if r["retriever"]["latency_only"] else "")]
        for size in GPU_BATCHES:
            b = record_batch(r, size)
            skipped = size in (r.get("latency") or {}).get("skipped_batch_sizes", [])
            cells.append(f"{b['p50_s']:.4f} / {b['p99_s']:.4f} ({b['calls']})" if b else ("skipped (budget)" if skipped else "n/a"))
        cells.append(r["hardware"]["summary"])
        lines.append("| " + " | ".join(cells) + " |")
    speedups = paired_speedups(rows)
    if speedups:
        lines += ["", "Speed-up over the fan-out LM of the same run (median of per-round ratios, 95% bootstrap interval over rounds):", "",
                  "| retriever | batch | speed-up end to end | paper |", "|---|---|---|---|"]
        for label, size, est, _ in speedups:
            paper = PAPER_SPEEDUP.get(size, "") if label.startswith("r4t_diffusion") else ""
            lines.append(f"| {label} | {size} | {est.mean:.1f}x [{est.lo:.1f}, {est.hi:.1f}] ({est.n} rounds) | {paper} |")
    return lines + [""]
