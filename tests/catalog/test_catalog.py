import json

import pytest

from r4t.catalog.catalog import Catalog, Collection, Query
from r4t.errors import DataError


def small() -> Catalog:
    return Catalog(
        name="t", domain="music", item_ids=["a", "b", "c"], item_texts=["x one", "y two", "z three"],
        attributes={"genre": ["jazz", "rock", "jazz"]},
        collections=[Collection("c0", "mix", [0, 2], {"genre": ["jazz"]})],
        queries=[Query("q0", "jazz mix", "train", "compositional", {"genre": ["jazz"]}, "era", ["60s"], [0, 2])],
    )


def test_roundtrip_and_fingerprint(tmp_path):
    cat = small().validate()
    cat.save(tmp_path / "cat")
    back = Catalog.load(tmp_path / "cat")
    assert back == cat
    assert back.fingerprint() == cat.fingerprint()
    other = small()
    other.item_texts[0] = "changed"
    assert other.fingerprint() != cat.fingerprint()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: (c.item_ids.clear(), c.item_texts.clear(), c.attributes.clear()), "has no items"),
        (lambda c: c.item_ids.__setitem__(1, "a"), "duplicate item id 'a'"),
        (lambda c: c.item_texts.__setitem__(1, "  "), "item 'b' has an empty"),
        (lambda c: c.collections.append(Collection("c1", "bad", [0, 7])), "collection 'c1' refers to unknown item index 7"),
        (lambda c: c.collections.append(Collection("c2", "dup", [1, 1])), "collection 'c2' lists an item twice"),
        (lambda c: c.queries.append(Query("q1", "x", "holdout")), "split 'holdout'"),
        (lambda c: c.attributes.__setitem__("mood", ["calm"]), "attribute 'mood' has 1 values for 3 items"),
    ],
)
def test_validation_names_the_problem(mutate, message):
    cat = small()
    mutate(cat)
    with pytest.raises(DataError, match=message):
        cat.validate()


def test_load_reports_truncated_file(tmp_path):
    small().save(tmp_path / "cat")
    path = tmp_path / "cat" / "items.jsonl"
    path.write_text(path.read_text()[:-10])
    with pytest.raises(DataError, match=r"items.jsonl:3: invalid JSON"):
        Catalog.load(tmp_path / "cat")


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    cat = small()
    monkeypatch.setattr("r4t.catalog.catalog.stable_json", lambda obj: (_ for _ in ()).throw(RuntimeError("disk full")) if isinstance(obj, dict) and "name" in obj and "domain" in obj else json.dumps(obj))
    with pytest.raises(RuntimeError, match="disk full"):
        cat.save(tmp_path / "cat")
    assert not (tmp_path / "cat").exists()
    assert list(tmp_path.iterdir()) == []  # no temp folder left behind
