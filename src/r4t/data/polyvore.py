"""Polyvore loaders (the data is gated; r4t never downloads it).

* ``polyvore``: Han et al. 2017 (``{train,valid,test}_no_dup.json``; the paper's 21,889
  outfits and 142k item occurrences). An item is identified as ``<set_id>_<index>``
  (the release's image layout), so the database has one entry per outfit slot.
* ``polyvore_outfits``: Vasileva et al. 2018 layout (``polyvore_item_metadata.json``,
  ``polyvore_outfit_titles.json``, ``{nondisjoint,disjoint}/{train,valid,test}.json``).

Each outfit becomes a collection, and its title a query whose reference set is the
outfit (the weakly supervised compositional regime) or, with ``queries: open``, an
open-ended query without a reference.
"""

from __future__ import annotations

from pathlib import Path

from r4t.catalog.catalog import Catalog, Collection, Query
from r4t.data.records import ChangeCounts, field, nonempty_list, read_json
from r4t.data.sources import catalogs
from r4t.errors import ConfigError, DataError

SPLIT_FILES = {"train": "train", "val": "valid", "test": "test"}


def _query_kind(queries: str) -> str:
    if queries not in ("compositional", "open"):
        raise ConfigError(f"catalog.queries must be 'compositional' or 'open', got {queries!r}")
    return queries


class _Builder:
    """Accumulates items (deduplicated by id), collections and queries."""

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.categories: list[str] = []
        self.collections: list[Collection] = []
        self.queries: list[Query] = []
        self.changes = ChangeCounts()

    def item(self, item_id: str, text: str, category: str) -> int:
        if item_id not in self.index:
            self.index[item_id] = len(self.ids)
            self.ids.append(item_id)
            if not text.strip():
                self.changes.add("items had no text and are described by their id")
            self.texts.append(text.strip() or item_id)
            self.categories.append(category)
        elif (text.strip() or item_id) != self.texts[self.index[item_id]]:
            self.changes.add("item ids appeared again with another text (the first text is kept)")
        return self.index[item_id]

    def outfit(self, set_id: str, title: str, members: list[int], split: str) -> None:
        unique = list(dict.fromkeys(members))
        self.changes.add("repeated items within an outfit were dropped", len(members) - len(unique))
        members = unique
        cid = f"{self.name}-{set_id}"
        if not title.strip():
            self.changes.add("outfits had no title: titled by their id, and no query made from them")
        self.collections.append(Collection(cid=cid, title=title.strip() or set_id, items=members, split=split))
        if title.strip():
            self.queries.append(Query(
                qid=cid, text=title.strip(), split=split, kind=self.kind,
                reference=members if self.kind == "compositional" else None,
            ))

    def catalog(self) -> Catalog:
        return Catalog(
            name=self.name, domain="fashion", item_ids=self.ids, item_texts=self.texts,
            attributes={"category": self.categories}, collections=self.collections, queries=self.queries,
            meta={"import_report": self.changes.report()},
        ).validate(self.name)


@catalogs.register("polyvore")
def polyvore(path: str, queries: str = "compositional") -> Catalog:
    """Polyvore (Han et al. 2017) from {train,valid,test}_no_dup.json; user-provided, never downloaded."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"polyvore: {root} is not a directory")
    b = _Builder("polyvore", _query_kind(queries))
    categories = _category_names(root / "category_id.txt")
    for split, stem in SPLIT_FILES.items():
        file = root / f"{stem}_no_dup.json"
        outfits = read_json(file)
        if not isinstance(outfits, list):
            raise DataError(f"{file}: expected a list of outfits, got {type(outfits).__name__}")
        for n, outfit in enumerate(outfits):
            where = f"{file} outfit #{n}"
            set_id = str(field(outfit, "set_id", (str, int), where))
            where = f"{file} outfit {set_id}"
            members = []
            for m, it in enumerate(nonempty_list(outfit, "items", where)):
                iw = f"{where} item #{m}"
                index = field(it, "index", int, iw)
                cat = field(it, "categoryid", (int, str), iw, optional=True)
                members.append(b.item(f"{set_id}_{index}", str(field(it, "name", str, iw)), categories.get(str(cat), str(cat or ""))))
            b.outfit(set_id, str(field(outfit, "name", str, where, optional=True) or ""), members, split)
    return b.catalog()


def _category_names(path: Path) -> dict[str, str]:
    """Optional ``category_id.txt`` ("<id> <name>" per line) of the Han release."""
    if not path.exists():
        return {}
    out = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise DataError(f"{path}:{lineno}: expected '<id> <name>', got {line!r}")
            out[parts[0]] = parts[1].strip()
    return out


@catalogs.register("polyvore_outfits")
def polyvore_outfits(path: str, variant: str = "nondisjoint", queries: str = "compositional") -> Catalog:
    """Polyvore Outfits (Vasileva et al. 2018), nondisjoint or disjoint split; user-provided."""
    root = Path(path)
    if variant not in ("nondisjoint", "disjoint"):
        raise ConfigError(f"polyvore_outfits variant must be 'nondisjoint' or 'disjoint', got {variant!r}")
    meta_file, titles_file = root / "polyvore_item_metadata.json", root / "polyvore_outfit_titles.json"
    meta, titles = read_json(meta_file), read_json(titles_file)
    for f, obj in ((meta_file, meta), (titles_file, titles)):
        if not isinstance(obj, dict):
            raise DataError(f"{f}: expected an object keyed by id, got {type(obj).__name__}")
    b = _Builder(f"polyvore_outfits_{variant}", _query_kind(queries))
    for split, stem in SPLIT_FILES.items():
        file = root / variant / f"{stem}.json"
        outfits = read_json(file)
        if not isinstance(outfits, list):
            raise DataError(f"{file}: expected a list of outfits, got {type(outfits).__name__}")
        for n, outfit in enumerate(outfits):
            set_id = str(field(outfit, "set_id", (str, int), f"{file} outfit #{n}"))
            where = f"{file} outfit {set_id}"
            members = []
            for m, it in enumerate(nonempty_list(outfit, "items", where)):
                item_id = str(field(it, "item_id", (str, int), f"{where} item #{m}"))
                if item_id not in meta:
                    raise DataError(f"{where}: item {item_id!r} is not in {meta_file.name}")
                im = meta[item_id]
                iw = f"{meta_file} item {item_id}"
                title = field(im, "title", str, iw, optional=True) or field(im, "url_name", str, iw, optional=True) or ""
                desc = field(im, "description", str, iw, optional=True) or ""
                cat = field(im, "semantic_category", str, iw, optional=True) or ""
                members.append(b.item(item_id, f"{title}. {desc}".strip(" ."), cat))
            t = titles.get(set_id, {})
            title = (t.get("title") or t.get("url_name") or "") if isinstance(t, dict) else ""
            b.outfit(set_id, str(title), members, split)
    return b.catalog()
