"""The catalog: items with text and (optional) hidden attributes, curated collections
built from items, and broad queries.

One in-memory form for the generated catalogs and the real-data loaders alike, saved
as sorted-key JSON lines so the same content gives the same bytes (and the same
fingerprint) on every machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from r4t.errors import DataError
from r4t.runs import atomic_dir, stable_json

SPLITS = ("train", "val", "test")
QUERY_KINDS = ("open", "compositional")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Query:
    """A broad request. ``intent`` holds the hard constraints an on-topic item meets
    (attribute -> allowed values); ``interpretations`` are the values of ``facet``
    that are valid readings of the query; ``reference`` is one plausible answer set
    (item indices) for compositional queries."""

    qid: str
    text: str
    split: str
    kind: str = "open"
    intent: dict[str, list[str]] = field(default_factory=dict)
    facet: str | None = None
    interpretations: list[str] = field(default_factory=list)
    reference: list[int] | None = None


@dataclass(frozen=True)
class Collection:
    """A curated set (playlist, outfit) of item indices with the theme it was made for.

    ``split`` follows the queries: a collection whose theme is a val or test intent (or
    whose title is a val or test query) carries that split, so that no training input
    (warm-start pairs, raw-set training, vocabularies) ever sees a held-out intent."""

    cid: str
    title: str
    items: list[int]
    theme: dict[str, list[str]] = field(default_factory=dict)
    split: str = "train"


@dataclass
class Catalog:
    """Items (column-wise), collections and queries of one domain."""

    name: str
    domain: str
    item_ids: list[str]
    item_texts: list[str]
    attributes: dict[str, list[str]] = field(default_factory=dict)
    collections: list[Collection] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def item_attributes(self, index: int) -> dict[str, str]:
        return {name: values[index] for name, values in self.attributes.items()}

    def queries_for(self, split: str | None = None, kind: str | None = None) -> list[Query]:
        return [q for q in self.queries if (split is None or q.split == split) and (kind is None or q.kind == kind)]

    def collections_for(self, split: str | None = None) -> list[Collection]:
        """The collections of one split (all of them for ``None``)."""
        return [c for c in self.collections if split is None or c.split == split]

    def collection_texts(self) -> list[str]:
        return [c.title for c in self.collections]

    # ------------------------------------------------------------------ checks
    def validate(self, source: str = "catalog") -> "Catalog":
        """Fail early, naming the record and field, on anything later stages would trip on."""
        n = len(self.item_ids)
        if n == 0:
            raise DataError(f"{source}: the catalog has no items")
        if len(self.item_texts) != n:
            raise DataError(f"{source}: {n} item ids but {len(self.item_texts)} item texts")
        if len(set(self.item_ids)) != n:
            dup = next(i for i in self.item_ids if self.item_ids.count(i) > 1)
            raise DataError(f"{source}: duplicate item id {dup!r}")
        for i, text in enumerate(self.item_texts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{source}: item {self.item_ids[i]!r} has an empty or non-string text")
        for name, values in self.attributes.items():
            if len(values) != n:
                raise DataError(f"{source}: attribute {name!r} has {len(values)} values for {n} items")
        for c in self.collections:
            if not c.items:
                raise DataError(f"{source}: collection {c.cid!r} has no items")
            bad = [i for i in c.items if not (0 <= i < n)]
            if bad:
                raise DataError(f"{source}: collection {c.cid!r} refers to unknown item index {bad[0]}")
            if len(set(c.items)) != len(c.items):
                raise DataError(f"{source}: collection {c.cid!r} lists an item twice")
            if c.split not in SPLITS:
                raise DataError(f"{source}: collection {c.cid!r} has split {c.split!r}; expected one of {SPLITS}")
        seen: set[str] = set()
        for q in self.queries:
            if q.qid in seen:
                raise DataError(f"{source}: duplicate query id {q.qid!r}")
            seen.add(q.qid)
            if q.split not in SPLITS:
                raise DataError(f"{source}: query {q.qid!r} has split {q.split!r}; expected one of {SPLITS}")
            if q.kind not in QUERY_KINDS:
                raise DataError(f"{source}: query {q.qid!r} has kind {q.kind!r}; expected one of {QUERY_KINDS}")
            if not q.text.strip():
                raise DataError(f"{source}: query {q.qid!r} has empty text")
            if q.reference is not None and any(not (0 <= i < n) for i in q.reference):
                raise DataError(f"{source}: query {q.qid!r} reference refers to an unknown item index")
        return self

    def fingerprint(self) -> str:
        """sha256 of the canonical records: equal for equal content, whatever the source."""
        h = hashlib.sha256()
        for record in self._item_records():
            h.update(stable_json(record).encode())
        for c in self.collections:
            h.update(stable_json(asdict(c)).encode())
        for q in self.queries:
            h.update(stable_json(asdict(q)).encode())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ storage
    def save(self, directory: str | Path) -> Path:
        """Write atomically to ``directory`` (which must not exist yet)."""
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            _write_jsonl(tmp / "items.jsonl", self._item_records())
            _write_jsonl(tmp / "collections.jsonl", (asdict(c) for c in self.collections))
            _write_jsonl(tmp / "queries.jsonl", (asdict(q) for q in self.queries))
            meta = {"name": self.name, "domain": self.domain, "format_version": FORMAT_VERSION, **self.meta}
            (tmp / "meta.json").write_text(stable_json(meta) + "\n")
        return directory

    def _item_records(self) -> Iterable[dict[str, Any]]:
        names = sorted(self.attributes)
        for i, (item_id, text) in enumerate(zip(self.item_ids, self.item_texts)):
            yield {"id": item_id, "text": text, "attributes": {a: self.attributes[a][i] for a in names}}

    @classmethod
    def load(cls, directory: str | Path) -> "Catalog":
        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.exists():
            raise DataError(f"{directory}: not a saved catalog (meta.json is missing)")
        meta = _read_json(meta_path)
        items = list(read_jsonl(directory / "items.jsonl"))
        names = sorted(items[0]["attributes"]) if items else []
        try:
            catalog = cls(
                name=meta.pop("name"),
                domain=meta.pop("domain"),
                item_ids=[r["id"] for r in items],
                item_texts=[r["text"] for r in items],
                attributes={a: [r["attributes"][a] for r in items] for a in names},
                collections=[Collection(**r) for r in read_jsonl(directory / "collections.jsonl")],
                queries=[Query(**r) for r in read_jsonl(directory / "queries.jsonl")],
                meta={k: v for k, v in meta.items() if k != "format_version"},
            )
        except (KeyError, TypeError) as exc:
            raise DataError(f"{directory}: malformed catalog record ({exc})") from None
        return catalog.validate(str(directory))


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(stable_json(record) + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None

