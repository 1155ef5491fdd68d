"""Exported retrievers: one self-contained folder that rebuilds a retriever without the run directory.

``export_retriever`` writes, for any registered retriever (built-in or plugin)::

    r4t_retriever.json     retriever spec, embedder spec, default k, versions, fingerprints,
                           and the sha256 of every other file
    items.jsonl            item ids and texts (row i = catalog index i)
    items.safetensors      the item embeddings [N, d]
    index/                 the faiss index (index.faiss + meta.json)
    denoiser/ policy/ ...  what the retriever loads from disk (``Retriever.export_files``)

``load_retriever`` reads it back with nothing that can run code: JSON, JSON lines,
safetensors and faiss's own format; component names resolve through the registries'
trusted path (built-ins and installed plugins only), every file's checksum is verified and a
file the manifest does not list is refused. The embedder is checked by re-encoding a few
item texts: vectors that do not reproduce the stored ones (another model, another version)
would silently retrieve the wrong items.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from r4t.catalog.catalog import Catalog
from r4t.catalog.embedders import check_embeddings, embedders
from r4t.catalog.index import CatalogIndex, vectors_fingerprint
from r4t.data.prepare import PreparedData
from r4t.errors import ConfigError, DataError
from r4t.registry import _require_plain
from r4t.retrievers.base import Retriever, retrievers

MANIFEST = "r4t_retriever.json"
FORMAT = "r4t-retriever"
FORMAT_VERSION = 1
# Re-encoded item texts must match the stored vectors this closely (bf16 encoders reach ~0.999).
EMBEDDER_CHECK_ITEMS, EMBEDDER_MIN_COSINE = 8, 0.99


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _items_sha(ids: Sequence[str], texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps([list(ids), list(texts)], ensure_ascii=False).encode()).hexdigest()[:16]


def _versions() -> dict[str, str]:
    import faiss
    import torch

    import r4t

    return {"r4t": r4t.__version__, "torch": torch.__version__, "faiss": faiss.__version__, "python": platform.python_version()}


def _plain_spec(spec: Any, where: str) -> dict[str, Any]:
    """A registered name with plain arguments: what an artifact may name (a ``class_path``
    would import a module on load, so export asks for the registered name instead)."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    if "class_path" in spec or "name" not in spec:
        raise ConfigError(f"{where}: export needs a registered name ({{\"name\": ..., ...}}), not a class_path")
    _require_plain(spec, where)
    return spec


def _path_arguments(spec: Mapping[str, Any]) -> list[str]:
    return [k for k, v in spec.items() if k != "name" and isinstance(v, str) and v and Path(v).exists()]


def _export_embedder(spec: Any, out: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The embedder spec; a local model folder is saved into ``embedder/`` (safetensors)."""
    spec = _plain_spec(spec, "embedder")
    model = spec.get("model")
    if isinstance(model, str) and Path(model).is_dir():
        from transformers import AutoModel, AutoTokenizer

        AutoTokenizer.from_pretrained(model).save_pretrained(out / "embedder")
        AutoModel.from_pretrained(model).save_pretrained(out / "embedder", safe_serialization=True)
        return spec, {"model": "embedder"}
    unexpected = _path_arguments(spec)
    if unexpected:
        raise ConfigError(f"embedder argument {unexpected[0]!r} names a file; export copies only a local `model` folder")
    return spec, {}


def export_retriever(data: PreparedData, spec: Any, out: str | Path, k: int = 10, overwrite: bool = False) -> Path:
    """Build ``spec`` on ``data`` (every check of an in-process build runs) and write it to ``out``."""
    from r4t.retrievers.diffusion import DEFAULT_SAMPLER, DiffusionRetriever

    out = Path(out)
    if out.exists():
        if not overwrite:
            raise ConfigError(f"{out} already exists; choose another -o or pass --overwrite")
        if not (out / MANIFEST).exists():
            raise ConfigError(f"{out} exists and is not an r4t artifact; refusing to overwrite it")
        shutil.rmtree(out)
    spec = _plain_spec(spec, "--retriever")
    if not 1 <= k <= len(data.catalog):
        raise ConfigError(f"-k={k} must be between 1 and the catalog size {len(data.catalog)}")
    retriever = retrievers.build(spec, data=data)
    if isinstance(retriever, DiffusionRetriever) and spec.get("sampler") is None:
        spec["sampler"] = dict(DEFAULT_SAMPLER)  # pin the sampler it ran with, whatever later defaults become
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        retriever_files = retriever.export_files(tmp)
        uncopied = [a for a in _path_arguments(spec) if a not in retriever_files]
        if uncopied:
            raise ConfigError(f"retriever {spec['name']!r}: argument {uncopied[0]!r} names a file that its export_files() "
                              "does not copy; implement export_files for this retriever to export it")
        embedder_spec, embedder_files = _export_embedder(data.embedder_spec, tmp)
        cat = data.catalog
        with open(tmp / "items.jsonl", "w", encoding="utf-8") as fh:
            for item_id, text in zip(cat.item_ids, cat.item_texts):
                fh.write(json.dumps({"id": item_id, "text": text}, ensure_ascii=False) + "\n")
        from safetensors.numpy import save_file

        save_file({"embeddings": np.ascontiguousarray(data.item_emb, dtype=np.float32)}, str(tmp / "items.safetensors"))
        data.item_index.save(tmp / "index")
        embeddings = data.paths.get("embeddings")
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "retriever": {k_: v for k_, v in spec.items() if k_ not in retriever_files}, "retriever_files": retriever_files,
            "embedder": {k_: v for k_, v in embedder_spec.items() if k_ not in embedder_files}, "embedder_files": embedder_files,
            "k": int(k), "dim": int(data.item_emb.shape[1]),
            "catalog": {"name": cat.name, "domain": cat.domain, "fingerprint": cat.meta.get("source_fingerprint") or cat.fingerprint(),
                        "items": len(cat), "items_sha256": _items_sha(cat.item_ids, cat.item_texts)},
            "embeddings": embeddings.name if embeddings is not None else None,
            "index": {"factory": data.item_index.factory, "metric": data.item_index.metric, "fingerprint": data.item_index.fingerprint},
            "versions": _versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        manifest["files"] = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        for p in [tmp, *tmp.rglob("*")]:  # readable by the serving user (mkdtemp-style folders are 0700)
            p.chmod(0o755 if p.is_dir() else 0o644)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The artifact's manifest, checked for format and version (no file is verified yet)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; an exported retriever is a folder with {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{folder}: not an r4t artifact ({MANIFEST} is missing); write one with `r4t export`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{path}: not an r4t retriever manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path}: format_version {manifest.get('format_version')!r}; this r4t reads {FORMAT_VERSION}")
    for key in ("retriever", "retriever_files", "embedder", "embedder_files", "k", "dim", "catalog", "files"):
        if key not in manifest:
            raise DataError(f"{path}: manifest has no {key!r}")
    return manifest


def verify_files(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Every listed file present with its checksum, and nothing else in the folder."""
    listed = manifest["files"]
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    extra = sorted(present - set(listed))
    if extra:
        raise DataError(f"{folder}: file {extra[0]!r} is not listed in {MANIFEST}; an artifact loads only what it lists")
    for rel, digest in sorted(listed.items()):
        path = folder / rel
        if ".." in Path(rel).parts or not path.is_file():
            raise DataError(f"{folder}: listed file {rel!r} is missing")
        if _sha256(path) != digest:
            raise DataError(f"{folder}: {rel} does not match its checksum in {MANIFEST} (damaged or edited)")


def _resolved(spec: Mapping[str, Any], files: Mapping[str, str], folder: Path, where: str) -> dict[str, Any]:
    out = dict(spec)
    for arg, rel in files.items():
        if not isinstance(rel, str) or ".." in Path(rel).parts or Path(rel).is_absolute():
            raise DataError(f"{where}: file argument {arg!r} must be a path inside the artifact, got {rel!r}")
        out[arg] = str(folder / rel)
    return out


def _check_embedder(embedder: Any, texts: Sequence[str], item_emb: np.ndarray, folder: Path) -> None:
    if embedder.dim != item_emb.shape[1]:
        raise DataError(f"{folder}: the embedder makes {embedder.dim}-d vectors but the items are {item_emb.shape[1]}-d")
    n = min(EMBEDDER_CHECK_ITEMS, len(texts))
    rows = np.linspace(0, len(texts) - 1, n).round().astype(int)
    cos = np.sum(embedder.encode([texts[i] for i in rows]) * item_emb[rows], axis=1)
    if float(cos.min()) < EMBEDDER_MIN_COSINE:
        raise DataError(f"{folder}: the embedder does not reproduce the exported item vectors (cosine {float(cos.min()):.3f} < "
                        f"{EMBEDDER_MIN_COSINE}); the installed embedder model differs from the one this artifact was exported with")


@dataclass
class ExportedRetriever:
    """A retriever rebuilt from an artifact, with the items it returns as records."""

    retriever: Retriever
    manifest: dict[str, Any]
    folder: Path

    @property
    def data(self) -> PreparedData:
        return self.retriever.data

    @property
    def default_k(self) -> int:
        return int(self.manifest["k"])

    def retrieve(self, queries: Sequence[str], k: int | None = None) -> list[list[str]]:
        """Item ids per query, exactly as the in-process retriever returns them."""
        return self.retriever.retrieve(list(queries), self.default_k if k is None else k)

    def retrieve_items(self, queries: Sequence[str], k: int | None = None) -> list[list[dict[str, Any]]]:
        """``[{"id", "text", "score"}]`` per query; ``score`` is the item's cosine similarity to the query.

        The query texts are encoded once: retrievers that search with the query vector get it
        (the same call ``retrieve`` makes); fan-out LMs use it for the scores and for the dense
        fallback of a fan-out that does not parse (the vectors ``retrieve`` would compute).
        """
        if isinstance(queries, str) or not queries:
            raise DataError("retrieve_items() takes a non-empty list of query texts")
        queries, k = list(queries), self.default_k if k is None else k
        r, cat = self.retriever, self.data.catalog
        with r.stage("encode"):
            emb = self.data.embedder.encode(queries)
        rows = r.retrieve_indices_for(queries, emb, k)  # fan-out LMs use the vectors only for unparsable fan-outs
        r.check_contract(rows, k, len(queries))
        out = []
        for q, row in zip(emb, rows):
            scores = self.data.item_emb[row] @ q
            out.append([{"id": cat.item_ids[i], "text": cat.item_texts[i], "score": round(float(s), 6)} for i, s in zip(row, scores)])
        return out


def load_retriever(folder: str | Path, device: str = "cpu", verify: bool = True) -> ExportedRetriever:
    """Rebuild an exported retriever; a damaged, edited or mismatched artifact fails in one line."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(folder)
    manifest = read_manifest(folder)
    if verify:
        verify_files(folder, manifest)
    where = str(folder / MANIFEST)
    cat_meta = manifest["catalog"]
    ids, texts = [], []
    with open(folder / "items.jsonl", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                record = json.loads(line)
                ids.append(str(record["id"]))
                texts.append(str(record["text"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DataError(f"{folder / 'items.jsonl'}:{lineno}: not an item record") from None
    if len(ids) != cat_meta.get("items") or _items_sha(ids, texts) != cat_meta.get("items_sha256"):
        raise DataError(f"{folder}: items.jsonl does not match the catalog recorded in {MANIFEST}")
    try:
        item_emb = load_file(str(folder / "items.safetensors"))["embeddings"]
    except (OSError, KeyError, SafetensorError) as exc:
        raise DataError(f"{folder / 'items.safetensors'}: no readable 'embeddings' tensor ({exc})") from None
    item_emb = check_embeddings(item_emb, f"{folder / 'items.safetensors'}", dim=int(manifest["dim"]))
    if len(item_emb) != len(ids):
        raise DataError(f"{folder}: {len(item_emb)} item vectors for {len(ids)} items")
    index = CatalogIndex.load(folder / "index", expected_fingerprint=vectors_fingerprint(item_emb),
                              use_gpu="auto" if device.startswith("cuda") else False)
    catalog = Catalog(name=str(cat_meta.get("name", "exported")), domain=str(cat_meta.get("domain", "items")), item_ids=ids,
                      item_texts=texts, meta={"source_fingerprint": cat_meta.get("fingerprint")}).validate(str(folder))
    embedder_spec = _resolved(manifest["embedder"], manifest["embedder_files"], folder, where)
    embedders.resolve_trusted(embedder_spec, where=f"{where}: embedder")
    embedder = embedders.build(embedder_spec)
    if verify:
        _check_embedder(embedder, texts, item_emb, folder)
    d = item_emb.shape[1]
    empty = np.zeros((0, d), dtype=np.float32)
    paths = {"embeddings": Path(manifest["embeddings"])} if manifest.get("embeddings") else {}
    data = PreparedData(catalog=catalog, item_emb=item_emb, query_emb=empty, collection_emb=empty, collection_title_emb=empty,
                        item_index=index, collection_index=None, paths=paths, embedder_spec=embedder_spec, _embedder=embedder)
    spec = _resolved(manifest["retriever"], manifest["retriever_files"], folder, where)
    retrievers.resolve_trusted(spec, where=f"{where}: retriever")
    if "device" in spec or device != "cpu":
        import inspect

        if "device" in inspect.signature(retrievers.get(spec["name"])).parameters:
            spec["device"] = device
    return ExportedRetriever(retrievers.build(spec, data=data), manifest, folder)
