"""Benchmark records: one JSON file per (catalog, retriever, run) under ``registry/``.

    registry/<catalog>/<retriever-slug>/<run-id>.json

A record carries everything needed to trust and reproduce its numbers: the command, the
config hash, the data fingerprint, the checkpoint's sha256, seeds, library versions and
the machine. ``check_registry`` validates every file against ``record.schema.json`` and
checks that each file sits where its content says it belongs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from r4t.errors import DataError
from r4t.runs import atomic_write_json, stable_json

SCHEMA_VERSION = 1


def schema() -> dict[str, Any]:
    return json.loads(resources.files("r4t.bench").joinpath("record.schema.json").read_text())


def slugify(label: str) -> str:
    """'fanout_lm (RL-tuned, R4T-FOLM)' -> 'fanout_lm-rl-tuned-r4t-folm' (folder-safe, stable)."""
    slug = re.sub(r"[^a-z0-9._]+", "-", label.lower()).strip("-")
    return slug or "retriever"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import r4t

    out = {"python": platform.python_version()}
    for name, dist in (("r4t", "r4t"), ("torch", "torch"), ("transformers", "transformers"), ("lightning", "lightning"), ("trl", "trl")):
        try:
            out[name] = version(dist)
        except PackageNotFoundError:  # r4t run from a source tree (PYTHONPATH=src, as on a bare GPU machine)
            out[name] = f"{r4t.__version__} (source tree)" if name == "r4t" else "not installed"
    try:
        import faiss

        out["faiss"] = getattr(faiss, "__version__", "unknown")
    except ImportError:  # the torch search needs none
        out["faiss"] = "not installed"
    from r4t.inference.cpu_linear import describe

    out["cpu_linear_kernels"] = describe()["cpu_linear"]  # oneDNN pre-packed or plain aten: it moves CPU timings
    return out


def hardware(device: str = "cpu") -> dict[str, Any]:
    """The machine a figure was measured on, named (CPU model, cores, GPU)."""
    from r4t.bench.hardware import cpu_model, describe_hardware, gpu_name

    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count() or 0, "gpu": gpu_name(), "device": device,
            "summary": f"{describe_hardware()}; timed on {device}"}


def new_run_id(payload: Any, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{hashlib.sha256(stable_json(payload).encode()).hexdigest()[:8]}"


def record_path(registry: str | Path, record: dict[str, Any]) -> Path:
    return Path(registry) / record["catalog"]["name"] / record["retriever"]["slug"] / f"{record['run_id']}.json"


def validate_record(record: dict[str, Any]) -> list[str]:
    """Schema errors as 'field.path: message' strings (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return [f"{'.'.join(map(str, e.absolute_path)) or '<record>'}: {e.message}"
            for e in sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))]


def write_record(registry: str | Path, record: dict[str, Any]) -> Path:
    """Validate, then write atomically; a record that fails the schema is never written."""
    errors = validate_record(record)
    if errors:
        raise DataError("benchmark record does not match the schema:\n  " + "\n  ".join(errors))
    path = record_path(registry, record)
    atomic_write_json(path, record)
    return path


def record_batch(record: dict[str, Any], batch_size: int) -> dict[str, Any] | None:
    """A record's latency entry for one batch size (None if it was not timed at that size)."""
    return next((b for b in (record.get("latency") or {}).get("batches", []) if b["batch_size"] == batch_size), None)


def iter_record_files(registry: str | Path) -> Iterator[Path]:
    root = Path(registry)
    yield from sorted(p for p in root.glob("*/*/*.json"))


def load_records(registry: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in iter_record_files(registry):
        try:
            out.append((path, json.loads(path.read_text())))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
    return out


def check_registry(registry: str | Path) -> tuple[int, list[str]]:
    """(number of records, problems): schema errors and files stored under the wrong path."""
    problems: list[str] = []
    count = 0
    for path in iter_record_files(registry):
        count += 1
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            problems.append(f"{path}: not valid JSON ({exc})")
            continue
        errors = validate_record(record)
        problems += [f"{path}: {e}" for e in errors]
        if not errors and record_path(registry, record) != path:
            problems.append(f"{path}: belongs at {record_path(registry, record)} (catalog/retriever/run_id in the file)")
    return count, problems
