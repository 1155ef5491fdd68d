"""Stage 0 (`r4t data`): catalog -> embeddings -> faiss indexes, each cached.

Cache folders are named by a hash of what made them, under ``<run_dir>/cache``:

  catalog/<hash(catalog spec, input file stats)>/           items/collections/queries JSONL
  embeddings/<hash(catalog fingerprint, embedder spec)>/    items, queries, collections, collection_titles (.npy)
  index/<hash(embedding fingerprint, index settings)>/{items,collections}/

so a second run loads everything, and a changed embedder re-embeds but does not
regenerate the catalog. Each folder appears atomically when complete.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from r4t.catalog.catalog import Catalog
from r4t.catalog.embedders import Embedder, check_embeddings, embedders, l2_normalize
from r4t.catalog.index import CatalogIndex, vectors_fingerprint
from r4t.data.sources import catalogs
from r4t.errors import DataError
from r4t.runs import atomic_dir, config_hash

# Bump when the layout of a cache folder changes: older folders then stop matching
# (they are ignored, not misread).
CACHE_FORMAT = 2


@dataclass
class DataConfig:
    """The config sections stage 0 reads (top-level ``catalog``, ``embedder``, ``index``)."""

    catalog: Any = "music"
    embedder: Any = "minilm"
    index: dict[str, Any] = field(default_factory=dict)
    run_dir: str = "runs/default"

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> "DataConfig":
        return cls(
            catalog=cfg.get("catalog", "music"),
            embedder=cfg.get("embedder", "minilm"),
            index=dict(cfg.get("index") or {}),
            run_dir=str(cfg.get("run_dir", "runs/default")),
        )


@dataclass
class PreparedData:
    """Everything later stages need about the catalog, in memory."""

    catalog: Catalog
    item_emb: np.ndarray
    query_emb: np.ndarray
    collection_emb: np.ndarray
    collection_title_emb: np.ndarray
    item_index: CatalogIndex
    collection_index: CatalogIndex | None
    paths: dict[str, Path]
    embedder_spec: Any = None
    _embedder: Embedder | None = None

    @property
    def vectors_id(self) -> str:
        """Names what the vectors are (embeddings + index folders are keyed by what made them):
        caches built on top of the vectors (RL policies, shards) include it, so changing the
        embedder or index never reuses stale work."""
        return "/".join(self.paths[k].name for k in ("embeddings", "index") if k in self.paths)

    @property
    def embedder(self) -> Embedder:
        """Loaded on first use: cached runs that only read vectors never load the model."""
        if self._embedder is None:
            self._embedder = embedders.build(self.embedder_spec)
        return self._embedder


def _input_stats(spec: Any) -> list[Any]:
    """Size and mtime of files a loader spec points at, so edited data invalidates the cache."""
    stats: list[Any] = []
    args = spec.values() if isinstance(spec, Mapping) else []
    for value in args:
        if isinstance(value, str) and Path(value).exists():
            p = Path(value)
            files = sorted(p.rglob("*"))[:2000] if p.is_dir() else [p]
            stats += [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    return stats


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[r4t data] {msg}", flush=True)


def load_or_build_catalog(spec: Any, cache: Path, quiet: bool = False) -> tuple[Catalog, Path]:
    folder = cache / "catalog" / config_hash(CACHE_FORMAT, spec, _input_stats(spec))
    if (folder / "meta.json").exists():
        _log(f"catalog: reusing {folder}", quiet)
        return Catalog.load(folder), folder
    t0 = time.perf_counter()
    catalog = catalogs.build(spec)
    catalog.validate(f"catalog {spec!r}")
    catalog.save(folder)
    _log(f"catalog: built {catalog.name} ({len(catalog)} items, {len(catalog.collections)} collections, "
         f"{len(catalog.queries)} queries) in {time.perf_counter() - t0:.1f}s -> {folder}", quiet)
    notes = (catalog.meta.get("import_report") or {}).get("notes") or []
    if notes:  # what the loader changed in the data, said once per load (also in the folder's meta.json)
        _log(f"catalog: loading changed the data: {'; '.join(notes)}", quiet)
    return catalog, folder


# Embedder settings that change how fast vectors are computed, not what they are.
RUNTIME_ONLY_EMBEDDER_KEYS = frozenset({"fast_path"})


def _cache_spec(spec: Any) -> Any:
    if isinstance(spec, Mapping) and RUNTIME_ONLY_EMBEDDER_KEYS & set(spec):
        return {k: v for k, v in spec.items() if k not in RUNTIME_ONLY_EMBEDDER_KEYS}
    return spec  # unchanged, so every existing cache key stays valid


def load_or_build_embeddings(
    catalog: Catalog, embedder_spec: Any, cache: Path, quiet: bool = False
) -> tuple[dict[str, np.ndarray], Path, Embedder | None]:
    fingerprint = catalog.fingerprint()  # hashes every record: once (seconds on a million items)
    folder = cache / "embeddings" / config_hash(CACHE_FORMAT, fingerprint, _cache_spec(embedder_spec))
    names = ("items", "queries", "collections", "collection_titles")
    if (folder / "meta.json").exists():
        _log(f"embeddings: reusing {folder}", quiet)
        meta = json.loads((folder / "meta.json").read_text())
        missing = [f"{n}.npy" for n in names if not (folder / f"{n}.npy").exists()]
        if missing:
            raise DataError(f"{folder}: cached embeddings are incomplete (missing {missing}); delete the folder to rebuild")
        arrays = {n: np.load(folder / f"{n}.npy", allow_pickle=False) for n in names}
        for n, a in arrays.items():
            check_embeddings(a, f"{folder / n}.npy", dim=meta["dim"])
        return arrays, folder, None
    embedder = embedders.build(embedder_spec)
    t0 = time.perf_counter()
    items = embedder.encode(catalog.item_texts, progress=not quiet, desc="embedding items")
    queries = embedder.encode([q.text for q in catalog.queries], progress=not quiet, desc="embedding queries")
    # A collection's content embedding is the normalised mean of its items' embeddings.
    collections = (
        l2_normalize(np.stack([items[c.items].mean(0) for c in catalog.collections]), "collection embeddings")
        if catalog.collections else np.zeros((0, embedder.dim), dtype=np.float32)
    )
    titles = embedder.encode(catalog.collection_texts(), desc="embedding collection titles")
    arrays = {"items": items, "queries": queries, "collections": collections, "collection_titles": titles}
    with atomic_dir(folder) as tmp:
        for n, a in arrays.items():
            np.save(tmp / f"{n}.npy", a, allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps({
            "catalog_fingerprint": fingerprint, "embedder": embedder_spec, "dim": embedder.dim,
            "embedder_detail": embedder.spec(), "counts": {n: len(a) for n, a in arrays.items()},
        }, indent=2, sort_keys=True, default=str))
    _log(f"embeddings: {len(items) + len(queries)} texts in {time.perf_counter() - t0:.1f}s "
         f"(dim {embedder.dim}) -> {folder}", quiet)
    return arrays, folder, embedder


def load_or_build_index(vectors: np.ndarray, settings: dict[str, Any], folder: Path, quiet: bool = False) -> CatalogIndex:
    fp = vectors_fingerprint(vectors)
    use_gpu = settings.get("use_gpu", "auto")
    if (folder / "meta.json").exists():
        _log(f"index: reusing {folder}", quiet)
        return CatalogIndex.load(folder, expected_fingerprint=fp, use_gpu=use_gpu)
    t0 = time.perf_counter()
    index = CatalogIndex(vectors, **settings)
    index.save(folder)
    _log(f"index: {settings.get('factory', 'Flat')} over {index.ntotal} vectors in {time.perf_counter() - t0:.1f}s "
         f"({'GPU' if index.on_gpu else 'CPU'}) -> {folder}", quiet)
    return index


def prepare_data(config: DataConfig, quiet: bool = False) -> PreparedData:
    """Build or load the catalog, its embeddings and indexes for ``config``."""
    cache = Path(config.run_dir) / "cache"
    catalog, catalog_dir = load_or_build_catalog(config.catalog, cache, quiet)
    arrays, emb_dir, embedder = load_or_build_embeddings(catalog, config.embedder, cache, quiet)
    index_key = config_hash(CACHE_FORMAT, vectors_fingerprint(arrays["items"]), vectors_fingerprint(arrays["collections"]), config.index)
    index_dir = cache / "index" / index_key
    item_index = load_or_build_index(arrays["items"], config.index, index_dir / "items", quiet)
    collection_index = None
    if len(arrays["collections"]):
        settings = dict(config.index)
        if len(arrays["collections"]) < 10_000:
            settings["factory"] = "Flat"  # IVF/PQ need more training points than a few thousand collections
        collection_index = load_or_build_index(arrays["collections"], settings, index_dir / "collections", quiet)
    if len(arrays["queries"]) != len(catalog.queries):
        raise DataError(f"{emb_dir}: {len(arrays['queries'])} query embeddings for {len(catalog.queries)} queries")
    return PreparedData(
        catalog=catalog, item_emb=arrays["items"], query_emb=arrays["queries"], collection_emb=arrays["collections"],
        collection_title_emb=arrays["collection_titles"],
        item_index=item_index, collection_index=collection_index,
        paths={"catalog": catalog_dir, "embeddings": emb_dir, "index": index_dir},
        embedder_spec=config.embedder, _embedder=embedder,
    )
