"""Domain-agnostic machinery that turns a domain vocabulary into a catalog.

A domain (music, fashion) supplies how to sample one item's hidden attributes, how to
describe it in words, which intents (attribute constraints) make sensible broad queries,
how to phrase them, and how to curate a good set for an intent. This module does the
rest the same way for every domain: matching items to intents, keeping intents that
have several valid interpretations, splitting queries 8:1:1 by intent (so paraphrases
of one intent never straddle splits), and assembling the Catalog.

Everything draws from one ``random.Random(seed)`` in a fixed order, so the same seed
gives the same catalog bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Protocol

import numpy as np

from r4t.catalog.catalog import Catalog, Collection, Query

Intent = dict[str, list[str]]


@dataclass(frozen=True)
class CatalogSize:
    items: int
    collections: int
    open_queries: int
    compositional_queries: int


class Domain(Protocol):
    name: str
    attributes: tuple[str, ...]

    def sample_item(self, rng: random.Random) -> dict[str, str]: ...
    def describe_item(self, attrs: dict[str, str], rng: random.Random) -> str: ...
    def item_id(self, index: int) -> str: ...
    def open_intents(self) -> list[tuple[Intent, str]]: ...
    def compositional_intents(self) -> list[tuple[Intent, str]]: ...
    def phrase(self, intent: Intent, kind: str, rng: random.Random) -> list[str]: ...
    def title(self, intent: Intent, rng: random.Random) -> str: ...
    def curate(self, candidates: "ItemPool", intent: Intent, facet: str, size: int, rng: random.Random) -> list[int]: ...
    def collection_size(self, rng: random.Random) -> int: ...


class ItemPool:
    """Column-wise attribute codes for fast intent matching over many items."""

    def __init__(self, attributes: dict[str, list[str]]) -> None:
        self.values = attributes
        self.n = len(next(iter(attributes.values())))
        # Integer codes per attribute: a match is one table lookup per item (np.isin on object
        # arrays sorted Python strings: most of the time of a million-item catalog).
        self._vocab: dict[str, dict[str, int]] = {}
        self._codes: dict[str, np.ndarray] = {}
        for a, v in attributes.items():
            vocab: dict[str, int] = {}
            self._codes[a] = np.fromiter((vocab.setdefault(x, len(vocab)) for x in v), dtype=np.int32, count=len(v))
            self._vocab[a] = vocab

    def match(self, intent: Intent) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        for attr, allowed in intent.items():
            vocab = self._vocab[attr]
            table = np.zeros(len(vocab), dtype=bool)
            table[[vocab[x] for x in allowed if x in vocab]] = True
            mask &= table[self._codes[attr]]
        return np.flatnonzero(mask)

    def by_value(self, indices: Iterable[int], attr: str) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i in indices:
            groups.setdefault(self.values[attr][i], []).append(int(i))
        return groups


def diverse_sample(groups: dict[str, list[int]], size: int, rng: random.Random, max_groups: int) -> list[int]:
    """Round-robin over up to ``max_groups`` facet values: diverse within the theme,
    never repeating an item."""
    keys = sorted(groups)
    rng.shuffle(keys)
    keys = keys[:max_groups]
    pools = {k: rng.sample(groups[k], len(groups[k])) for k in keys}
    out: list[int] = []
    while len(out) < size and any(pools.values()):
        for k in keys:
            if pools[k] and len(out) < size:
                out.append(pools[k].pop())
    return out


def _valid(pool: ItemPool, intent: Intent, facet: str, min_items: int, min_per_value: int) -> list[str]:
    groups = pool.by_value(pool.match(intent), facet)
    good = sorted(v for v, members in groups.items() if len(members) >= min_per_value)
    return good if sum(len(groups[v]) for v in good) >= min_items and len(good) >= 3 else []


def _intent_key(intent: Intent) -> str:
    return repr(sorted((a, sorted(v)) for a, v in intent.items()))


def _split_of(position: int, total: int) -> str:
    frac = position / max(total, 1)
    return "train" if frac < 0.8 else ("val" if frac < 0.9 else "test")


def build_catalog(domain: Domain, size: CatalogSize, seed: int, name: str) -> Catalog:
    rng = random.Random(seed)
    records = [domain.sample_item(rng) for _ in range(size.items)]
    attributes = {a: [r[a] for r in records] for a in domain.attributes}
    texts = [domain.describe_item(r, rng) for r in records]
    pool = ItemPool(attributes)

    queries: list[Query] = []
    used_texts: set[str] = set()
    open_pool: list[tuple[Intent, str, list[str]]] = []
    for kind, intents, n_wanted in (
        ("open", domain.open_intents(), size.open_queries),
        ("compositional", domain.compositional_intents(), size.compositional_queries),
    ):
        valid = []
        for intent, facet in intents:
            interp = _valid(pool, intent, facet, min_items=10 if kind == "compositional" else 20, min_per_value=2)
            if interp:
                valid.append((intent, facet, interp))
        rng.shuffle(valid)
        if kind == "open":
            open_pool = valid
        # Choose intents and their phrasings first, then split 8:1:1 by intent position,
        # so every split gets its share however many phrasings an intent has.
        chosen: list[tuple[Intent, str, list[str], list[str]]] = []
        made = 0
        for intent, facet, interp in valid:
            if made >= n_wanted:
                break
            phrasings = [t for t in dict.fromkeys(domain.phrase(intent, kind, rng)) if t not in used_texts][: n_wanted - made]
            if phrasings:
                used_texts.update(phrasings)
                chosen.append((intent, facet, interp, phrasings))
                made += len(phrasings)
        for position, (intent, facet, interp, phrasings) in enumerate(chosen):
            split = _split_of(position, len(chosen))
            for text in phrasings:
                reference = None
                if kind == "compositional":
                    groups = {v: m for v, m in pool.by_value(pool.match(intent), facet).items() if v in interp}
                    reference = sorted(diverse_sample(groups, 10, rng, max_groups=len(groups)))
                queries.append(Query(
                    qid=f"{name}-{kind[0]}{len(queries):05d}", text=text, split=split, kind=kind,
                    intent=intent, facet=facet, interpretations=interp, reference=reference,
                ))

    # A collection takes the split of the queries on its theme (held-out wins), so a val or
    # test intent's curated sets never reach training.
    rank = {"train": 0, "val": 1, "test": 2}
    intent_split: dict[str, str] = {}
    for q in queries:
        key = _intent_key(q.intent)
        if rank[q.split] > rank[intent_split.get(key, "train")]:
            intent_split[key] = q.split
    collections: list[Collection] = []
    titles: set[str] = set()
    while len(collections) < size.collections and open_pool:
        intent, facet, interp = open_pool[rng.randrange(len(open_pool))]
        members = domain.curate(pool, {**intent}, facet, domain.collection_size(rng), rng)
        if len(members) < 3:
            continue
        title = domain.title(intent, rng)
        base, k = title, 2
        while title in titles:
            title, k = f"{base} {k}", k + 1
        titles.add(title)
        collections.append(Collection(cid=f"{name}-c{len(collections):05d}", title=title, items=members, theme=intent,
                                      split=intent_split.get(_intent_key(intent), "train")))

    return Catalog(
        name=name,
        domain=domain.name,
        item_ids=[domain.item_id(i) for i in range(size.items)],
        item_texts=texts,
        attributes=attributes,
        collections=collections,
        queries=queries,
        meta={"seed": seed, "generator": f"r4t.data.builtin.{domain.name}"},
    ).validate(f"generated {name} catalog")

