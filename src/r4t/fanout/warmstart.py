"""Supervised warm-start pairs (query -> sub-queries) derived from the curated data.

For a training query, a curated collection on the same theme supplies the answer: one
short sub-query per member item, written from the item's attributes (generated catalogs)
or from the first words of its text (real data). The pairs teach the output format and
a reasonable first policy, the paper's "zero-shot" starting point; RL then raises the
set reward from there.
"""

from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

import numpy as np

from r4t.catalog.catalog import Catalog, Query
from r4t.fanout.parsing import format_subqueries
from r4t.fanout.prompts import bare_prompt

# Attribute order used to phrase an item as a short sub-query, per domain.
PHRASE_ATTRIBUTES = {
    "music": ("mood", "era", "genre", "instrumentation", "context"),
    "fashion": ("colour", "material", "subtype", "style", "season"),
}


def item_phrase(catalog: Catalog, index: int, rng: random.Random, max_words: int = 6, keep: float = 0.8) -> str:
    """A short sub-query for one item: ``catalog.meta["phrase_template"]`` over its attribute
    columns (and ``{text}``) when the catalog has one, the built-in domains' attribute order
    (each attribute kept with probability ``keep``), or else the first words of its text (any domain).

    ``keep`` 1.0 names every attribute: grounded as fan-out grounds them, such phrases find
    on-intent items far more often than the default 0.8's (benchmarks/results/warmstart_targets.md)."""
    template = catalog.meta.get("phrase_template")
    if template:
        values = {**catalog.item_attributes(index), "text": catalog.item_texts[index]}
        phrase = " ".join(template.format_map(values).split())
        return phrase or " ".join(catalog.item_texts[index].split()[:max_words])
    attrs = PHRASE_ATTRIBUTES.get(catalog.domain)
    if attrs and all(a in catalog.attributes for a in attrs):
        chosen = [a for a in attrs if rng.random() < keep] or [attrs[2]]
        return " ".join(catalog.attributes[a][index] for a in chosen)
    return " ".join(catalog.item_texts[index].split()[:max_words])


def has_themes(catalog: Catalog) -> bool:
    """Generated catalogs record the intent each collection was curated for; real data does not."""
    return any(c.theme for c in catalog.collections)


def nearest_collections(catalog: Catalog, query_emb: np.ndarray, title_emb: np.ndarray, queries: Sequence[Query],
                        per_query: int = 4) -> dict[str, list[int]]:
    """qid -> the ``per_query`` training collections whose titles are nearest to the query
    (a collection titled exactly like the query first): the answers for catalogs without themes."""
    train = [n for n, c in enumerate(catalog.collections) if c.split == "train"]
    if not train:
        return {}
    row_of = {q.qid: n for n, q in enumerate(catalog.queries)}
    rows = np.asarray([row_of[q.qid] for q in queries], dtype=int)
    sims = query_emb[rows] @ title_emb[train].T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :per_query]
    return {q.qid: [train[j] for j in order] for q, order in zip(queries, top)}


def theme_key(theme: Mapping[str, Any]) -> str:
    """One spelling of a theme (attribute -> values), so a query finds the collections made for it."""
    return repr(sorted(theme.items()))


def collections_by_theme(catalog: Catalog, split: str) -> dict[str, list[int]]:
    """Indices of the ``split``'s collections by their theme (collections follow the queries' split)."""
    by_theme: dict[str, list[int]] = {}
    for n, c in enumerate(catalog.collections):
        if c.split == split and c.theme:
            by_theme.setdefault(theme_key(c.theme), []).append(n)
    return by_theme


def warmstart_pairs(catalog: Catalog, queries: Sequence[Query], subqueries: int = 10, per_query: int = 4, seed: int = 0,
                    nearest: Mapping[str, list[int]] | None = None, phrase_keep: float = 0.8) -> list[tuple[str, str]]:
    """(prompt, completion) pairs from the training collections. A query's answers are the
    collections curated for its intent (generated catalogs) or, given ``nearest``, the
    collections nearest to it (``nearest_collections``: every training query gets pairs);
    a query with neither is skipped."""
    rng = random.Random(seed)
    by_theme = collections_by_theme(catalog, "train")  # a held-out intent's curated sets never become training pairs
    pairs = []
    for q in queries:
        cols = by_theme.get(theme_key(q.intent), []) if q.intent else []
        if not cols and nearest is not None:
            cols = [n for n in nearest.get(q.qid, []) if catalog.collections[n].split == "train"]
        if not cols and q.reference:
            members_options = [list(q.reference)]
        else:
            members_options = [catalog.collections[n].items for n in cols]
        for members in rng.sample(members_options, min(per_query, len(members_options))):
            items = rng.sample(list(members), min(subqueries, len(members)))
            subs = list(dict.fromkeys(item_phrase(catalog, i, rng, keep=phrase_keep) for i in items))
            pairs.append((bare_prompt(q.text), format_subqueries(subs)))
    return pairs


def training_vocabulary(catalog: Catalog, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The texts a policy's vocabulary may be built from: the warm-start pairs and the
    training queries. Val and test query texts are never among them, so a word that only a
    held-out query uses is out of vocabulary, as it would be for a real user's. (Item texts
    would be fair game too, but they grow the music vocabulary from hundreds of words to
    ~9,000 and the tiny LM's softmax with it: 10x slower synthesis on 2 cores.)"""
    return [t for pair in pairs for t in pair] + [q.text for q in catalog.queries_for(split="train")]
