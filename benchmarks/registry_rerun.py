"""Did a code change move the committed numbers? Compare a fresh `r4t benchmark` run with the
committed `registry/` records, metric by metric (composite proxy and judge), per retriever and
query kind: the difference, whether the new mean lies in the committed 95% interval, and whether
the two runs' per-query sets are the same retrieval (equal means to 1e-9 say so).

    make fit CONFIG=configs/music.yaml      # the run dir the committed records were made from
    r4t benchmark -c configs/music.yaml --skip best_of_n latency_only_fanout latency_only_diffusion \\
        --no_latency --registry /tmp/rerun
    python benchmarks/registry_rerun.py --new /tmp/rerun --catalog music-default > benchmarks/results/registry_rerun_music.md

Each new record is matched with the newest committed record of the same retriever (slug) whose
`command` contains `--old_command` when given (so a rerun is compared with the run it repeats).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from r4t.bench.hardware import describe_hardware
from r4t.bench.records import load_records

METRICS = ("reward/composite", "judge_alignment", "judge_diversity", "judge_mean")


def by_slug(registry: str, catalog: str, command: str | None) -> dict[str, dict[str, Any]]:
    """The newest record per retriever slug of ``catalog`` (optionally only runs of ``command``)."""
    newest: dict[str, dict[str, Any]] = {}
    for _, rec in load_records(registry):
        if rec["catalog"]["name"] != catalog or (command and command not in rec.get("command", "")):
            continue
        slug = rec["retriever"]["slug"]
        if slug not in newest or rec["date"] > newest[slug]["date"]:
            newest[slug] = rec
    return newest


def rows(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| retriever | kind | metric | committed (95% CI) | rerun | difference | in the committed CI |", "|---|---|---|---|---|---|---|"]
    for slug in sorted(new):
        if slug not in old:
            lines.append(f"| {slug} | - | - | no committed record | - | - | - |")
            continue
        for kind in sorted(new[slug].get("quality") or {}):
            then = ((old[slug].get("quality") or {}).get(kind) or {}).get("metrics", {})
            now = (new[slug]["quality"][kind] or {}).get("metrics", {})
            for metric in METRICS:
                if metric not in now or metric not in then:
                    continue
                a, b = then[metric]["mean"], now[metric]["mean"]
                lo, hi = then[metric]["ci95"]
                same = "identical" if abs(a - b) < 1e-9 else f"{b - a:+.4f}"
                lines.append(f"| {slug} | {kind} | {metric} | {a:.4f} ({lo:.4f}, {hi:.4f}) | {b:.4f} | {same} | {'yes' if lo <= b <= hi else '**no**'} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--old", default="registry", help="the committed registry (default registry/)")
    p.add_argument("--new", required=True, help="the registry the rerun wrote")
    p.add_argument("--catalog", required=True, help="catalog name in the records, e.g. music-default")
    p.add_argument("--old_command", "--old-command", default=None, help="only committed records whose command contains this")
    args = p.parse_args()
    old, new = by_slug(args.old, args.catalog, args.old_command), by_slug(args.new, args.catalog, None)
    if not new:
        sys.exit(f"no records for {args.catalog} under {args.new}")
    print(f"# Committed records vs a rerun: {args.catalog}\n")
    print(f"Rerun on {describe_hardware()}. `python benchmarks/registry_rerun.py {' '.join(sys.argv[1:])}`\n")
    for slug in sorted(new):
        if slug in old:
            print(f"- `{slug}`: committed {old[slug]['date']} (`{old[slug].get('command', '')}`), "
                  f"checkpoint sha256 {str(old[slug].get('checkpoint_sha256'))[:12]} -> {str(new[slug].get('checkpoint_sha256'))[:12]}")
    print()
    print("\n".join(rows(old, new)))


if __name__ == "__main__":
    main()
