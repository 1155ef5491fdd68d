"""File a GPU run's records under registry/ (validated), so `r4t leaderboard` shows them.

    python benchmarks/gpu/land.py OUT/records.jsonl [--registry registry]
    r4t leaderboard

The device returns files at most two folders deep, so the run writes its records as one
JSON-lines file; this writes each to registry/<catalog>/<retriever>/<run-id>.json.
Smoke-mode records (``--smoke``: tiny models, no real measurement) are refused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from r4t.bench.records import write_record


def land(records_file: Path, registry: Path) -> list[Path]:
    records = [json.loads(line) for line in records_file.read_text().splitlines() if line.strip()]
    if not records:
        raise SystemExit(f"{records_file}: no records")
    smoke = [r["retriever"]["label"] for r in records if (r.get("latency") or {}).get("protocol", {}).get("smoke")]
    if smoke:
        raise SystemExit(f"{records_file}: smoke-mode records ({', '.join(smoke)}) exercise the script; they are not measurements")
    return [write_record(registry, record) for record in records]  # each is schema-checked before it is written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", type=Path)
    p.add_argument("--registry", type=Path, default=Path("registry"))
    args = p.parse_args()
    for path in land(args.records, args.registry):
        print(path)


if __name__ == "__main__":
    main()
