"""Webdataset shards written atomically, with checksummed sidecars.

A shard ``shard-00007.tar`` is written to a temporary name and renamed when complete;
its sidecar ``shard-00007.json`` (sample count + sha256) is written after, so a shard
counts as finished only if both exist and agree. Samples are encoded as bytes here
(npy via ``np.save`` without pickle) and decoded the same way, never by unpickling.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import webdataset as wds

from r4t.errors import DataError
from r4t.runs import file_sha256, stable_json


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_sample(key: str, query: str, zq: np.ndarray, z: np.ndarray, rewards: dict[str, float], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "__key__": key,
        "query.txt": query.encode(),
        "zq.npy": _npy(zq.astype(np.float32)),
        "z.npy": _npy(z.astype(np.float32)),
        "rewards.json": stable_json(rewards).encode(),
        "meta.json": stable_json(meta).encode(),
    }


def decode_sample(sample: dict[str, Any]) -> dict[str, Any]:
    try:
        return {
            "key": sample["__key__"],
            "query": sample["query.txt"].decode(),
            "zq": np.load(io.BytesIO(sample["zq.npy"]), allow_pickle=False),
            "z": np.load(io.BytesIO(sample["z.npy"]), allow_pickle=False),
            "rewards": json.loads(sample["rewards.json"]),
            "meta": json.loads(sample["meta.json"]),
        }
    except (KeyError, ValueError) as exc:
        raise DataError(f"malformed shard sample {sample.get('__key__')!r} from {sample.get('__url__')}: {exc}") from None


def sidecar(shard: Path) -> Path:
    return shard.with_suffix(".json")


def shard_complete(shard: Path) -> bool:
    side = sidecar(shard)
    if not (shard.exists() and side.exists()):
        return False
    try:
        info = json.loads(side.read_text())
    except json.JSONDecodeError:
        return False
    return info.get("sha256") == file_sha256(shard)


def damaged_shards(folder: Path) -> list[str]:
    """The shards a finished folder's ``manifest.json`` lists that are missing, of another size
    or checksum (a copy cut short, a disk error): reusing them would fail mid-fit or train on
    part of the data. Sizes are compared first; checksums (~0.5 s per 200 MB) then."""
    try:
        entries = json.loads((folder / "manifest.json").read_text())["shards"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return ["manifest.json"]
    bad = []
    for entry in entries:
        path = folder / str(entry.get("file", ""))
        if not path.is_file() or ("bytes" in entry and path.stat().st_size != entry["bytes"]) or file_sha256(path) != entry.get("sha256"):
            bad.append(path.name)
    return bad


def write_shard(shard: Path, samples: Iterable[dict[str, Any]]) -> int:
    """Write samples to ``shard`` atomically; returns the count."""
    shard.parent.mkdir(parents=True, exist_ok=True)
    tmp = shard.with_name(f".{shard.name}.tmp-{os.getpid()}")
    count = 0
    try:
        # A fixed mtime makes equal samples give byte-identical shards (reproducible, checksummable).
        with wds.TarWriter(str(tmp), mtime=0.0) as sink:
            for sample in samples:
                sink.write(sample)
                count += 1
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, shard)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    side_tmp = sidecar(shard).with_name(f".{sidecar(shard).name}.tmp-{os.getpid()}")
    side_tmp.write_text(json.dumps({"count": count, "sha256": file_sha256(shard), "bytes": shard.stat().st_size}))
    os.replace(side_tmp, sidecar(shard))
    return count


def read_shards(urls: list[str]) -> Iterator[dict[str, Any]]:
    """All samples of ``urls`` in order (for checks and tests; training streams with WebDataset)."""
    # An explicit pipeline: the caller chose the files, so no node splitting (safe inside DDP ranks).
    for sample in wds.DataPipeline(wds.SimpleShardList(list(urls)), wds.tarfile_to_samples()):
        yield decode_sample(sample)
