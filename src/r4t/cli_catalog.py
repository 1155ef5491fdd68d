"""`r4t catalog validate` and `r4t init`: check a catalog, or write a config for one, without building anything."""

from __future__ import annotations

import sys
from typing import Any

from r4t.cli import _stage_config
from r4t.errors import ConfigError


def catalog_command(args: Any, rest: list[str]) -> int:
    from r4t.data.files import ImportReport, files, load_files, summarise
    from r4t.data.sources import catalogs
    from r4t.errors import DataError

    cfg = _stage_config(args.validate)  # the only action: `r4t catalog validate`
    factory, kwargs = catalogs.resolve(cfg["catalog"])
    if factory is files:
        cat, report = load_files(**kwargs)
    else:
        report = ImportReport()
        try:
            cat = catalogs.build(cfg["catalog"]).validate(f"catalog {cfg['catalog']!r}")
            report.notes += list((cat.meta.get("import_report") or {}).get("notes") or [])
        except DataError as exc:
            report.problems.append(str(exc))
            cat = None
    if cat is not None:
        for line in summarise(cat, report):
            print(f"[r4t catalog] {line}")
    for problem in report.problems:
        print(f"r4t catalog validate: problem: {problem}", file=sys.stderr)
    if report.problems:
        print(f"[r4t catalog] {len(report.problems)} problem(s); nothing was built", file=sys.stderr)
        return 2
    print("[r4t catalog] ok")
    return 0


def init_command(args: Any, rest: list[str]) -> int:
    from pathlib import Path

    from r4t.config_template import config_for
    from r4t.data.files import load_files

    items = args["items"]  # not args.items: a jsonargparse Namespace has an items() method
    out = Path(args.output)
    if out.exists():
        raise ConfigError(f"{out} already exists; choose another -o")
    cat, report = load_files(items, args.collections, args.queries, domain=args.domain, catalog_name=args.name)
    if report.problems:
        for problem in report.problems:
            print(f"r4t init: problem: {problem}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(config_for(cat, {"items": items, "collections": args.collections, "queries": args.queries}))
    print(f"[r4t init] wrote {out} for {len(cat)} items and {len(cat.collections)} collections; next: r4t catalog validate -c {out}")
    return 0
