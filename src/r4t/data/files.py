"""Your own catalog from plain files: ``catalog: {name: files, items: ..., collections: ..., queries: ...}``.

* **items** (JSONL, JSON list, CSV/TSV or Parquet): an ``id`` and a ``text`` per row; every other
  column is an attribute (kept as text; the offline judge and the complementarity roles read them).
* **collections** (JSONL or JSON list): ``{"id", "title", "items": [item ids]}``, the curated sets
  (playlists, outfits, bundles) the pipeline learns from.
* **queries** (optional; JSONL or JSON list): ``{"id", "text", "split"?, "reference"?: [item ids]}``; for the
  offline judge also ``"intent"`` (attribute -> allowed values), ``"facet"`` (the attribute whose values
  are the query's readings) and ``"interpretations"`` (those values), as the generated catalogs have.
  Without a queries file (the usual case) every distinct collection title becomes an open query.

Splits follow the text, never the row: a query (and every collection with that title) goes to
train/val/test 8:1:1 by a stable hash of its normalised text, so equal titles never straddle
splits; when the hash leaves val or test empty on a small catalog, the highest-hash train titles
move there (at least one each once there are three titles). Ids are strings (numbers are read as
their text). What the loader changes is counted in ``catalog.meta["import_report"]`` and printed by
``r4t catalog validate``; nothing is dropped without a count.
"""

from __future__ import annotations

import csv
import json
import statistics
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from r4t.catalog.catalog import SPLITS, Catalog, Collection, Query, read_jsonl
from r4t.data.records import hash_split
from r4t.data.sources import catalogs
from r4t.errors import ConfigError, DataError

ITEM_FORMATS = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
RECORD_FORMATS = (".jsonl", ".ndjson", ".json")


@dataclass
class ImportReport:
    """What loading changed or refused: ``problems`` stop the import, ``notes`` are counted changes."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"problems": list(self.problems), "notes": list(self.notes)}


# ---------------------------------------------------------------------- reading rows
def read_rows(path: str | Path, what: str, formats: tuple[str, ...] = ITEM_FORMATS) -> list[dict[str, Any]]:
    """Rows of a JSONL / JSON-list / CSV / TSV / Parquet file as dicts; errors name the file and line."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in formats:
        raise ConfigError(f"catalog.{what}: {p.name!r} is not one of {', '.join(formats)}")
    if not p.is_file():
        raise DataError(f"catalog.{what}: file not found: {p}")
    try:
        if suffix in (".jsonl", ".ndjson"):
            return list(read_jsonl(p))
        if suffix == ".json":
            rows = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(rows, list):
                raise DataError(f"{p}: expected a JSON list of objects, got {type(rows).__name__}")
            return rows
        if suffix in (".csv", ".tsv"):
            with open(p, encoding="utf-8-sig", newline="") as fh:
                return list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError(f"catalog.{what}: reading {p.name} needs pyarrow (pip install pyarrow)") from None
        return pq.read_table(p).to_pylist()
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc.reason})") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{p}: cannot read it ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def _objects(rows: list[Any], label: str, report: ImportReport) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(1-based number, "file row n", row) for every row that is an object; the others are problems."""
    for n, row in enumerate(rows, 1):
        where = f"{label} {n}"
        if isinstance(row, dict):
            yield n, where, row
        else:
            report.problems.append(f"{where}: expected an object, got {type(row).__name__}")


def _as_id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if isinstance(value, (str, int, float)) else None
    return text or None


def _as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None / NaN (pandas-written Parquet)
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value).strip()


# ---------------------------------------------------------------------- splitting
def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def split_by_text(texts: Iterable[str]) -> dict[str, str]:
    """normalised text -> split: 8:1:1 by a stable hash; val/test filled from the top of train when empty."""
    keys = sorted({normalised(t) for t in texts if t.strip()})
    split = {k: hash_split(k) for k in keys}
    if len(keys) >= 3:
        ranked = sorted((k for k in keys if split[k] == "train"), key=lambda k: zlib.crc32(k.encode()), reverse=True)
        for name in ("val", "test"):
            if name not in split.values() and ranked:
                split[ranked.pop(0)] = name
    return split


# ---------------------------------------------------------------------- the loader
def default_name(items: str | Path) -> str:
    """The items file's name, or its folder's when the file is just called items/data/catalog."""
    p = Path(items)
    return p.resolve().parent.name if p.stem.lower() in ("items", "data", "catalog", "products") else p.stem


def load_files(items: str, collections: str | None = None, queries: str | None = None, domain: str = "items",
               catalog_name: str | None = None, id_column: str = "id", text_column: str = "text",
               phrase_template: str | None = None) -> tuple[Catalog, ImportReport]:
    """Read the files into a Catalog and say what was changed; raises nothing for bad records
    (they are ``problems`` in the report) so that ``r4t catalog validate`` can list them all."""
    report = ImportReport()
    rows = read_rows(items, "items")
    ids: list[str] = []
    texts: list[str] = []
    extra: list[dict[str, Any]] = []
    where_of: dict[str, int] = {}
    for n, where, row in _objects(rows, f"{Path(items).name} row", report):
        item_id, text = _as_id(row.get(id_column)), _as_text(row.get(text_column))
        if item_id is None:
            report.problems.append(f"{where}: missing {id_column!r}")
            continue
        if item_id in where_of:
            report.problems.append(f"{where}: duplicate item id {item_id!r} (first at row {where_of[item_id]})")
            continue
        if not text:
            report.problems.append(f"{where}: item {item_id!r} has an empty {text_column!r}")
            continue
        where_of[item_id] = n
        ids.append(item_id)
        texts.append(text)
        extra.append({k: v for k, v in row.items() if k not in (id_column, text_column)})
    if not ids and not report.problems:
        report.problems.append(f"{Path(items).name}: no items")
    shared = len(texts) - len({normalised(t) for t in texts})
    if shared:
        report.notes.append(f"items: {shared} share their text with another item (kept: they are separate ids, but the "
                            "encoder cannot tell them apart)")
    columns = sorted({k for e in extra for k in e})
    attributes = {c: [_as_text(e.get(c)) for e in extra] for c in columns}
    for c in columns:
        missing = sum(1 for v in attributes[c] if not v)
        if missing:
            report.notes.append(f"attribute {c!r}: empty for {missing} of {len(ids)} items")
    index = {item_id: i for i, item_id in enumerate(ids)}

    raw_collections = _collections(collections, index, report) if collections else []
    user_queries = _queries(queries, index, report) if queries else None
    if user_queries is None:
        split = split_by_text(c.title for c in raw_collections)
        query_list = []
        for key in sorted(split):
            title = next(c.title for c in raw_collections if normalised(c.title) == key)
            query_list.append(Query(qid=f"title-{zlib.crc32(key.encode()):08x}", text=title, split=split[key]))
        if raw_collections:
            report.notes.append(f"no queries file: {len(query_list)} queries from the distinct collection titles, split 8:1:1 by title")
    else:
        query_list = user_queries
        split = {normalised(q.text): q.split for q in query_list}
    # A collection goes with the query that shares its title (a held-out query's curated sets are never trained on).
    final = [Collection(cid=c.cid, title=c.title, items=c.items, split=split.get(normalised(c.title), "train")) for c in raw_collections]
    cat = Catalog(name=catalog_name or default_name(items), domain=domain, item_ids=ids, item_texts=texts, attributes=attributes,
                  collections=final, queries=query_list,
                  meta={"import_report": report.as_dict(), **({"phrase_template": phrase_template} if phrase_template else {})})
    if phrase_template:
        _check_template(phrase_template, columns, report)
    return cat, report


def _collections(path: str, index: dict[str, int], report: ImportReport) -> list[Collection]:
    out: list[Collection] = []
    seen: set[str] = set()
    unknown_refs = repeated = dropped_small = 0
    for _, where, row in _objects(read_rows(path, "collections", RECORD_FORMATS), f"{Path(path).name} record", report):
        cid, title, members = _as_id(row.get("id")), _as_text(row.get("title")), row.get("items")
        if cid is None:
            report.problems.append(f"{where}: missing 'id'")
            continue
        if cid in seen:
            report.problems.append(f"{where}: duplicate collection id {cid!r}")
            continue
        seen.add(cid)
        if not isinstance(members, list):
            report.problems.append(f"{where} ({cid!r}): 'items' must be a list of item ids")
            continue
        rows = []
        for m in members:
            ref = _as_id(m)
            if ref not in index:
                unknown_refs += 1
                continue
            rows.append(index[ref])
        unique = list(dict.fromkeys(rows))
        repeated += len(rows) - len(unique)
        if len(unique) < 2:
            dropped_small += 1
            continue
        out.append(Collection(cid=cid, title=title or cid, items=unique))
    if unknown_refs:
        report.notes.append(f"collections: {unknown_refs} references to unknown item ids dropped")
    if repeated:
        report.notes.append(f"collections: {repeated} repeated items within a collection dropped")
    if dropped_small:
        report.notes.append(f"collections: {dropped_small} dropped for having fewer than 2 known items")
    return out


def _queries(path: str, index: dict[str, int], report: ImportReport) -> list[Query]:
    rows = read_rows(path, "queries", RECORD_FORMATS)
    texts = [_as_text(r.get("text")) for r in rows if isinstance(r, dict)]
    hashed = split_by_text(texts)
    out: list[Query] = []
    seen: set[str] = set()
    for _, where, row in _objects(rows, f"{Path(path).name} record", report):
        qid, text = _as_id(row.get("id")), _as_text(row.get("text"))
        if qid is None or not text:
            report.problems.append(f"{where}: a query needs an 'id' and a non-empty 'text'")
            continue
        if qid in seen:
            report.problems.append(f"{where}: duplicate query id {qid!r}")
            continue
        seen.add(qid)
        split = row.get("split") or hashed[normalised(text)]
        if split not in SPLITS:
            report.problems.append(f"{where} ({qid!r}): split {split!r} is not one of {SPLITS}")
            continue
        intent = row.get("intent") or {}
        if not isinstance(intent, dict) or not all(isinstance(v, (str, list)) for v in intent.values()):
            report.problems.append(f"{where} ({qid!r}): 'intent' must map attributes to a value or a list of values")
            continue
        reference = row.get("reference")
        refs = None
        if reference is not None:
            refs = [index[r] for r in (_as_id(x) for x in reference) if r in index] if isinstance(reference, list) else []
            if not refs:
                report.problems.append(f"{where} ({qid!r}): 'reference' must list known item ids")
                continue
        facet, interpretations = row.get("facet"), row.get("interpretations") or []
        if (facet is None) != (not interpretations) or not isinstance(interpretations, list) or (facet is not None and not intent):
            report.problems.append(f"{where} ({qid!r}): the judge needs 'intent', 'facet' and 'interpretations' together "
                                   "(or none of them)")
            continue
        out.append(Query(qid=qid, text=text, split=split, kind="compositional" if refs else "open",
                         intent={k: [v] if isinstance(v, str) else [str(x) for x in v] for k, v in intent.items()},
                         facet=None if facet is None else str(facet), interpretations=[str(v) for v in interpretations], reference=refs))
    return out


def _check_template(template: str, columns: list[str], report: ImportReport) -> None:
    import string

    names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    unknown = sorted(set(names) - set(columns) - {"text"})
    if unknown:
        report.problems.append(f"catalog.phrase_template names {unknown}, which are not item columns ({columns or 'none'})")


@catalogs.register("files")
def files(items: str, collections: str | None = None, queries: str | None = None, domain: str = "items",
          catalog_name: str | None = None, id_column: str = "id", text_column: str = "text",
          phrase_template: str | None = None) -> Catalog:
    """Your own catalog: items (JSONL/JSON/CSV/TSV/Parquet with id, text, attributes), collections {id, title, items: [ids]}, queries."""
    cat, report = load_files(items, collections, queries, domain, catalog_name, id_column, text_column, phrase_template)
    if report.problems:
        more = f" (and {len(report.problems) - 1} more; `r4t catalog validate -c CONFIG` lists them all)" if len(report.problems) > 1 else ""
        raise DataError(report.problems[0] + more)
    return cat


def summarise(cat: Catalog, report: ImportReport) -> list[str]:
    """The lines ``r4t catalog validate`` prints."""
    sizes = [len(c.items) for c in cat.collections]
    lines = [f"catalog {cat.name!r} (domain {cat.domain!r}): {len(cat)} items, {len(cat.collections)} collections"
             + (f" (median size {statistics.median(sizes):g}, min {min(sizes)}, max {max(sizes)})" if sizes else "")]
    lines.append("queries: " + ", ".join(f"{s} {len(cat.queries_for(split=s))}" for s in SPLITS)
                 + "; collections: " + ", ".join(f"{s} {len(cat.collections_for(s))}" for s in SPLITS))
    if cat.attributes:
        cover = ", ".join(f"{a} {sum(1 for v in vals if v) / max(len(vals), 1):.0%}" for a, vals in sorted(cat.attributes.items()))
        lines.append(f"attributes (share of items with a value): {cover}")
    else:
        lines.append("attributes: none (the offline judge is unavailable; every embedding-based metric is still reported)")
    judged = sum(1 for q in cat.queries if q.intent and q.facet and q.interpretations)
    lines.append(f"queries the offline judge can score (intent, facet, interpretations): {judged} of {len(cat.queries)}")
    lines += [f"note: {n}" for n in report.notes]
    return lines
