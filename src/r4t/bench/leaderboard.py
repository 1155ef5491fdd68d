"""``r4t leaderboard``: render registry/LEADERBOARD.md, a quality-vs-latency frontier PNG per
catalog and, optionally, an HTML page -- from the records alone, so anyone can regenerate
them from a checkout.

Per catalog, the newest record of each (retriever, machine) pair is shown; best value per
column in bold (highest quality, lowest latency). Latency-only rows are labelled as such.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

from r4t.bench.records import load_records

QUALITY_COLUMNS = [("reward/composite", "composite"), ("vendi_diversity", "Vendi"), ("alignment", "align"),
                   ("coverage", "coverage"), ("judge_diversity", "judge div"), ("judge_alignment", "judge align")]
COMPOSITIONAL_COLUMNS = [("recall@10", "recall@10 (comp.)"), ("recall@5000", "Recall@5K (comp.)"), ("hit@5000", "Hit@5K (comp.)"),
                         ("vendi_across_5_runs", "Vendi over 5 runs (comp.)")]
LATENCY_BATCHES = (1, 8, 1024)
DIRECTIONS_BATCH = 8
RL_FANOUT_LABEL = "fanout_lm (RL-tuned, R4T-FOLM)"  # runner's label for the RL policy: the speed-up reference
DIRECTION_STAGES = ("encode", "generate")  # query text -> the L search directions; the grounding search is excluded
REGENERATE = [
    "r4t fit -c configs/music.yaml                      # the whole R4T pipeline -> r4t_diffusion (and the RL policies)",
    "r4t fit -c configs/music.yaml --data.class_path r4t.data.datamodules.CuratedSetDataModule   # raw_diffusion",
    "r4t benchmark -c configs/music.yaml                # every retriever the run dir has -> registry/",
    "# the same three for configs/fashion.yaml, then:",
    "r4t leaderboard",
]


def latest(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """catalog -> newest record per (retriever label, hardware summary), in a stable order."""
    newest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        key = (r["catalog"]["name"], r["retriever"]["label"], r["hardware"]["summary"])
        if key not in newest or r["date"] > newest[key]["date"]:
            newest[key] = r
    out: dict[str, list[dict[str, Any]]] = {}
    for (catalog, _, _), r in sorted(newest.items()):
        out.setdefault(catalog, []).append(r)
    for rows in out.values():
        rows.sort(key=lambda r: (r["retriever"]["latency_only"], r["hardware"]["summary"], r["date"]))
    return out


def _metric(r: dict[str, Any], kind: str, key: str) -> dict[str, Any] | None:
    q = r.get("quality") or {}
    return ((q.get(kind) or {}).get("metrics") or {}).get(key)


def _latency(r: dict[str, Any], batch: int) -> dict[str, Any] | None:
    for b in (r.get("latency") or {}).get("batches", []):
        if b["batch_size"] == batch:
            return b
    return None


def directions_seconds(r: dict[str, Any], batch: int = DIRECTIONS_BATCH) -> float | None:
    """Mean time to turn a batch of query texts into search directions (encode + generate
    stages): the fan-out proper, what the paper's LLM-vs-diffusion latency compares."""
    x = _latency(r, batch)
    if x is None:
        return None
    return sum(float(x["breakdown_s"].get(s, 0.0)) for s in DIRECTION_STAGES)


def speedup_lines(rows: list[dict[str, Any]], batch: int = DIRECTIONS_BATCH) -> list[str]:
    """r4t_diffusion against the RL-tuned fan-out LM of the same machine: end to end and fan-out."""
    out = []
    for r in rows:
        if r["retriever"]["name"] != "r4t_diffusion" or not (x := _latency(r, batch)):
            continue
        for lm in rows:
            same_machine = lm["hardware"]["summary"] == r["hardware"]["summary"]
            if lm["retriever"]["label"] == RL_FANOUT_LABEL and same_machine and (y := _latency(lm, batch)):
                d_r, d_lm = directions_seconds(r, batch), directions_seconds(lm, batch)
                out.append(f"- batch {batch}, {r['hardware']['summary']}: speed-up of {r['retriever']['label']} over {lm['retriever']['label']}: "
                           f"{y['p50_s'] / x['p50_s']:.1f}x end to end (p50 {x['p50_s']:.4f} s vs {y['p50_s']:.4f} s), "
                           f"{d_lm / d_r:.1f}x at fan-out (encode + generate {d_r:.4f} s vs {d_lm:.4f} s)")
    return out


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[tuple[str, str, str]] = [("open", k, label) for k, label in QUALITY_COLUMNS]
    if any(_metric(r, "compositional", "recall@10") for r in rows):
        columns += [("compositional", k, label) for k, label in COMPOSITIONAL_COLUMNS]
    columns = [c for c in columns if any(_metric(r, c[0], c[1]) for r in rows)]
    best_q = {c: max((m["mean"] for r in rows if (m := _metric(r, c[0], c[1]))), default=None) for c in columns}
    best_l = {b: min((x["p50_s"] for r in rows if (x := _latency(r, b))), default=None) for b in LATENCY_BATCHES}
    best_d = min((d for r in rows if (d := directions_seconds(r)) is not None), default=None)
    head = ["retriever", *[label for _, _, label in columns], *[f"p50 s @ batch {b}" for b in LATENCY_BATCHES],
            f"fan-out s @ batch {DIRECTIONS_BATCH}", "machine"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        name = r["retriever"]["label"] + (" *(latency only, random weights)*" if r["retriever"]["latency_only"] else "")
        cells = [name]
        for c in columns:
            m = _metric(r, c[0], c[1])
            if m is None:
                cells.append("n/a")
                continue
            text = f"{m['mean']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]"
            cells.append(f"**{text}**" if len(rows) > 1 and m["mean"] == best_q[c] else text)
        for b in LATENCY_BATCHES:
            x = _latency(r, b)
            if x is None:
                skipped = b in (r.get("latency") or {}).get("skipped_batch_sizes", [])
                cells.append("skipped (budget)" if skipped else "n/a")
                continue
            text = f"{x['p50_s']:.4f} ({x['calls']} calls)"
            cells.append(f"**{text}**" if len(rows) > 1 and x["p50_s"] == best_l[b] else text)
        d = directions_seconds(r)
        cells.append("n/a" if d is None else (f"**{d:.4f}**" if len(rows) > 1 and d == best_d else f"{d:.4f}"))
        cells.append(r["hardware"]["summary"])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(by_catalog: dict[str, list[dict[str, Any]]], plots: dict[str, str]) -> str:
    lines = ["# r4t leaderboard", "",
             "Generated by `r4t leaderboard` from the JSON records under `registry/` (schema: `src/r4t/bench/record.schema.json`,",
             "checked by `r4t leaderboard --check`). Regenerate every number on your machine with:", "", "```"]
    lines += REGENERATE + ["```", "",
                           "Quality: mean over the test queries with a bootstrap 95% interval; `composite` is the config's training reward",
                           "scored on the returned items (groundedness is 1 for every method that returns catalog items, so the composite",
                           "ranks by Vendi diversity and alignment); judge scores are the offline attribute judge (20-100).",
                           "Latency: median wall time of one `retrieve()` call on a batch (encode + generate + search), after warm-up,",
                           "caches dropped; the number of timed calls is in brackets. Fan-out: mean time of the encode + generate stages",
                           "at batch 8, i.e. query texts -> search directions (LM decoding and sub-query embedding, or diffusion",
                           "sampling), without the grounding search. Bold: best in column. Each record names its machine.", ""]
    for catalog, rows in by_catalog.items():
        lines += [f"## {catalog}", ""]
        lines += _table(rows)
        lines.append("")
        if speedups := speedup_lines(rows):
            lines += speedups + [f"- these ratios come from sweeps timed minutes apart; `python benchmarks/paired_speedup.py -c CONFIG` "
                                 "measures them in interleaved rounds, with 95% intervals, immune to the machine's drift", ""]
        if catalog in plots:
            lines += [f"![quality vs latency, {catalog}]({plots[catalog]})", ""]
        tested = [(r["retriever"]["label"], t) for r in rows for t in ((r.get("quality") or {}).get("open") or {}).get("paired_tests", [])
                  if t["metric"] == "reward/composite"]
        if tested:
            lines += ["Paired permutation test on the composite (open queries) against the best classic baseline and dense top-k:", ""]
            lines += [f"- {label}: {t['difference']:+.4f} vs {t['against']}, p = {t['p_value']:.4f}" for label, t in tested]
            lines.append("")
    return "\n".join(lines)


def plot_frontier(catalog: str, rows: list[dict[str, Any]], out: Path, batch: int = 8) -> bool:
    """Composite (open queries) against p50 latency at ``batch``; False if nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r["retriever"]["label"], x["p50_s"], m["mean"], m["ci95"]) for r in rows
              if (x := _latency(r, batch)) and (m := _metric(r, "open", "reward/composite"))]
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for label, lat, mean, ci in points:
        ax.errorbar(lat, mean, yerr=[[mean - ci[0]], [ci[1] - mean]], fmt="o", capsize=3)
        ax.annotate(label, (lat, mean), textcoords="offset points", xytext=(5, 4), fontsize=7)
    frontier, best = [], -float("inf")
    for label, lat, mean, _ in sorted(points, key=lambda p: p[1]):
        if mean > best:
            frontier.append((lat, mean))
            best = mean
    ax.step([p[0] for p in frontier], [p[1] for p in frontier], where="post", linestyle="--", color="grey", label="Pareto frontier")
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency per batch of {batch} queries (s, log scale)")
    ax.set_ylabel("composite reward (open test queries)")
    machines = sorted({r["hardware"]["summary"] for r in rows})
    ax.set_title(f"{catalog}: set quality vs fan-out latency\n{'; '.join(machines)}", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return True


def render_html(markdown: str) -> str:
    """A dependency-free HTML page: the Markdown tables as <table>, the rest as paragraphs."""
    body, table = [], []

    def flush() -> None:
        if table:
            rows = [[c.strip() for c in line.strip("|").split("|")] for line in table if not set(line) <= set("|-")]
            head, rest = rows[0], rows[1:]
            body.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{html.escape(c.replace('**', ''))}</td>" for c in r) + "</tr>" for r in rest)
                        + "</table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("![") and "](" in line:
            src = line.split("](", 1)[1].rstrip(")")
            body.append(f'<img src="{html.escape(src)}" alt="plot">')
        elif line.strip() and not line.startswith("```"):
            body.append(f"<p>{html.escape(line)}</p>")
    flush()
    style = "table{border-collapse:collapse;font:13px sans-serif}td,th{border:1px solid #ccc;padding:3px 6px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>r4t leaderboard</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"


def build_leaderboard(registry: str | Path, html_page: bool = False) -> list[Path]:
    """Write LEADERBOARD.md (+ PNGs, + optional HTML) into ``registry``; returns the files written."""
    root = Path(registry)
    by_catalog = latest([r for _, r in load_records(root)])
    written, plots = [], {}
    for catalog, rows in by_catalog.items():
        png = root / "plots" / f"{catalog}_quality_vs_latency.png"
        if plot_frontier(catalog, rows, png):
            plots[catalog] = f"plots/{png.name}"
            written.append(png)
    md = render_markdown(by_catalog, plots)
    (root / "LEADERBOARD.md").write_text(md)
    written.append(root / "LEADERBOARD.md")
    if html_page:
        (root / "leaderboard.html").write_text(render_html(md))
        written.append(root / "leaderboard.html")
    return written
