"""Reading real-data files with errors that name the file, record and field."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from r4t.errors import DataError


def read_json(path: Path) -> Any:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None


def field(record: Any, name: str, kind: type | tuple[type, ...], where: str, optional: bool = False) -> Any:
    """``record[name]`` checked against ``kind``; a DataError names ``where`` and the field."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object, got {type(record).__name__}")
    if name not in record or record[name] is None:
        if optional:
            return None
        raise DataError(f"{where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(f"{where}: field {name!r} should be {want}, got {type(value).__name__} {value!r:.60}")
    return value


def nonempty_list(record: Any, name: str, where: str) -> list[Any]:
    value = field(record, name, list, where)
    if not value:
        raise DataError(f"{where}: field {name!r} is an empty list")
    return value


def hash_split(key: str) -> str:
    """Deterministic 8:1:1 split from a stable hash of ``key`` (for data with no split)."""
    bucket = zlib.crc32(key.encode()) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


class ChangeCounts:
    """Counts what a loader changed in the user's data, reported instead of done silently:
    one line per kind in ``catalog.meta["import_report"]["notes"]``, printed by ``r4t data``
    and ``r4t catalog validate``."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, what: str, n: int = 1) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    def notes(self) -> list[str]:
        return [f"{n} {what}" for what, n in self.counts.items()]

    def report(self) -> dict[str, list[str]]:
        return {"problems": [], "notes": self.notes()}
