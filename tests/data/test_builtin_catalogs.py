"""The generated catalogs: deterministic bytes, and curated sets with the ground-truth
properties the judge and rewards rely on."""

from collections import Counter

import pytest

from r4t.data.builtin.engine import ItemPool
from r4t.data.sources import catalogs


@pytest.fixture(scope="module", params=["music", "fashion"])
def catalog(request):
    return catalogs.build({"name": request.param, "size": "tiny", "seed": 0})


def _bytes(cat, folder):
    cat.save(folder)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("name", ["music", "fashion"])
def test_same_seed_same_bytes_other_seed_differs(name, tmp_path):
    a = _bytes(catalogs.build({"name": name, "size": "tiny", "seed": 3}), tmp_path / "a")
    b = _bytes(catalogs.build({"name": name, "size": "tiny", "seed": 3}), tmp_path / "b")
    c = _bytes(catalogs.build({"name": name, "size": "tiny", "seed": 4}), tmp_path / "c")
    assert a == b
    assert a["items.jsonl"] != c["items.jsonl"]


def test_collections_are_on_theme_and_distinct(catalog):
    pool = ItemPool(catalog.attributes)
    for col in catalog.collections:
        assert len(set(col.items)) == len(col.items) >= 3
        on_theme = set(pool.match(col.theme).tolist())
        assert set(col.items) <= on_theme, f"{col.title} has off-theme items"


def test_music_playlists_are_diverse_within_theme():
    cat = catalogs.build({"name": "music", "size": "tiny"})
    for col in cat.collections:
        facets = [a for a in ("genre", "era", "mood", "context") if a not in col.theme]
        # every playlist varies along at least one attribute its theme leaves open
        assert any(len({cat.attributes[a][i] for i in col.items}) >= 2 for a in facets)


def test_fashion_outfits_are_complementary_and_coherent():
    cat = catalogs.build({"name": "fashion", "size": "tiny"})
    for col in cat.collections:
        cats = [cat.attributes["category"][i] for i in col.items]
        assert len(cats) == len(set(cats)), f"{col.title}: two items fill one slot"
        assert "shoes" in cats and ("dress" in cats or {"top", "bottom"} <= set(cats))
        assert len({cat.attributes["style"][i] for i in col.items}) == 1
        assert len({cat.attributes["season"][i] for i in col.items}) == 1
        assert len({cat.attributes["colour"][i] for i in col.items}) <= 3


def test_queries_split_8_1_1_with_interpretations_and_references(catalog):
    for kind in ("open", "compositional"):
        qs = catalog.queries_for(kind=kind)
        splits = Counter(q.split for q in qs)
        assert splits["train"] > splits["val"] > 0 and splits["test"] > 0
        assert 0.7 <= splits["train"] / len(qs) <= 0.9
    pool = ItemPool(catalog.attributes)
    for q in catalog.queries:
        assert 2 <= len(q.text.split()) <= 6, q.text
        assert len(q.interpretations) >= 3  # several valid readings
        if q.kind == "compositional":
            assert len(q.reference) == 10 == len(set(q.reference))
            assert set(q.reference) <= set(pool.match(q.intent).tolist())
    # paraphrases of one intent never straddle splits
    by_intent = {}
    for q in catalog.queries:
        by_intent.setdefault((q.kind, repr(sorted(q.intent.items()))), set()).add(q.split)
    assert all(len(s) == 1 for s in by_intent.values())


def test_default_sizes_meet_the_design_card():
    from r4t.data.builtin.catalogs import SIZES

    assert SIZES["default"].items >= 20_000 and SIZES["default"].collections >= 3_000


def test_item_texts_vary_in_wording():
    cat = catalogs.build({"name": "music", "size": "tiny"})
    openings = Counter(t.split()[0] for t in cat.item_texts)
    assert len(openings) > 20  # not one template
