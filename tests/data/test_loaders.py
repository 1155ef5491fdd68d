"""Real-data loaders on small fixture files written in the datasets' exact formats."""

import json

import pytest

from r4t.data.sources import catalogs
from r4t.errors import DataError


def han_outfit(set_id, names, cat=4):
    return {"name": f"outfit {set_id}", "views": 10, "likes": 3, "set_id": set_id, "set_url": "", "desc": "", "date": "",
            "image": "", "items": [{"index": i + 1, "name": n, "price": 1.0, "likes": 0, "image": "", "categoryid": cat} for i, n in enumerate(names)]}


@pytest.fixture
def han(tmp_path):
    root = tmp_path / "polyvore"
    root.mkdir()
    (root / "train_no_dup.json").write_text(json.dumps([han_outfit("101", ["denim skirt", "white tee", "sandals"]), han_outfit("102", ["wool coat", "boots"])]))
    (root / "valid_no_dup.json").write_text(json.dumps([han_outfit("201", ["silk blouse", "heels"])]))
    (root / "test_no_dup.json").write_text(json.dumps([han_outfit("301", ["linen shirt", "loafers"])]))
    (root / "category_id.txt").write_text("4 Skirts\n")
    return root


def test_polyvore_han_loads(han):
    cat = catalogs.build({"name": "polyvore", "path": str(han)})
    assert cat.item_ids[:3] == ["101_1", "101_2", "101_3"]
    assert len(cat) == 9 and len(cat.collections) == 4
    assert cat.attributes["category"][0] == "Skirts"
    q = cat.queries[0]
    assert q.kind == "compositional" and q.reference == [0, 1, 2] and q.split == "train"
    assert [q.split for q in cat.queries] == ["train", "train", "val", "test"]
    assert catalogs.build({"name": "polyvore", "path": str(han), "queries": "open"}).queries[0].reference is None


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"set_id": "1", "items": [', r"train_no_dup.json: invalid JSON"),
        ('{"set_id": "1"}', r"expected a list of outfits"),
        ('[{"name": "x", "items": []}]', r"outfit #0: missing field 'set_id'"),
        ('[{"set_id": "9", "name": "x", "items": []}]', r"outfit 9: field 'items' is an empty list"),
        ('[{"set_id": "9", "name": "x", "items": [{"name": "a"}]}]', r"outfit 9 item #0: missing field 'index'"),
        ('[{"set_id": "9", "name": "x", "items": [{"index": "1", "name": "a"}]}]', r"field 'index' should be int, got str"),
    ],
)
def test_polyvore_han_malformed_names_file_and_field(han, content, message):
    (han / "train_no_dup.json").write_text(content)
    with pytest.raises(DataError, match=message):
        catalogs.build({"name": "polyvore", "path": str(han)})


def test_polyvore_han_missing_file(han):
    (han / "test_no_dup.json").unlink()
    with pytest.raises(DataError, match=r"test_no_dup.json: file not found"):
        catalogs.build({"name": "polyvore", "path": str(han)})


@pytest.fixture
def vasileva(tmp_path):
    root = tmp_path / "polyvore_outfits"
    (root / "nondisjoint").mkdir(parents=True)
    meta = {str(i): {"url_name": f"item {i}", "title": f"Item {i}", "description": "soft cotton", "semantic_category": c,
                     "category_id": "1", "related": [], "catgeories": []} for i, c in enumerate(["tops", "bottoms", "shoes", "bags"])}
    (root / "polyvore_item_metadata.json").write_text(json.dumps(meta))
    (root / "polyvore_outfit_titles.json").write_text(json.dumps({"o1": {"url_name": "weekend", "title": "Weekend look"}, "o2": {"url_name": "city", "title": ""}}))
    outfit = lambda sid, ids: {"set_id": sid, "items": [{"item_id": i, "index": n + 1} for n, i in enumerate(ids)]}  # noqa: E731
    (root / "nondisjoint" / "train.json").write_text(json.dumps([outfit("o1", ["0", "1", "2"])]))
    (root / "nondisjoint" / "valid.json").write_text(json.dumps([outfit("o2", ["0", "3"])]))
    (root / "nondisjoint" / "test.json").write_text(json.dumps([]))
    return root


def test_polyvore_outfits_loads(vasileva):
    cat = catalogs.build({"name": "polyvore_outfits", "path": str(vasileva)})
    assert len(cat) == 4 and cat.item_texts[0] == "Item 0. soft cotton"
    assert cat.attributes["category"] == ["tops", "bottoms", "shoes", "bags"]
    assert [c.title for c in cat.collections] == ["Weekend look", "city"]  # url_name when the title is empty
    assert cat.queries[0].reference == [0, 1, 2]


def test_polyvore_outfits_unknown_item(vasileva):
    (vasileva / "nondisjoint" / "test.json").write_text(json.dumps([{"set_id": "o3", "items": [{"item_id": "99", "index": 1}]}]))
    with pytest.raises(DataError, match=r"test.json outfit o3: item '99' is not in polyvore_item_metadata.json"):
        catalogs.build({"name": "polyvore_outfits", "path": str(vasileva)})


def mpd_slice(pids):
    track = lambda n: {"pos": n, "artist_name": f"Artist {n % 2}", "track_uri": f"spotify:track:{n}", "artist_uri": "", "track_name": f"Song {n}",  # noqa: E731
                       "album_uri": "", "duration_ms": 1000, "album_name": "Album"}
    return {"info": {"generated_on": "2017-12-03", "slice": "0-999", "version": "v1"},
            "playlists": [{"name": f"Chill {p}", "collaborative": "false", "pid": p, "modified_at": 0, "num_tracks": 3, "num_albums": 1,
                           "num_followers": 1, "tracks": [track(p), track(p + 1), track(p + 2)], "num_edits": 1, "duration_ms": 3000, "num_artists": 2}
                          for p in pids]}


def test_mpd_loads_and_dedups_tracks(tmp_path):
    (tmp_path / "mpd.slice.0-999.json").write_text(json.dumps(mpd_slice([0, 1])))
    (tmp_path / "mpd.slice.1000-1999.json").write_text(json.dumps(mpd_slice([1000])))
    cat = catalogs.build({"name": "mpd", "path": str(tmp_path)})
    assert len(cat) == 7  # tracks 0..3 shared by pids 0 and 1, plus 1000..1002
    assert cat.item_texts[0] == "Song 0 by Artist 0, from Album"
    assert [c.items for c in cat.collections[:2]] == [[0, 1, 2], [1, 2, 3]]
    assert {q.split for q in cat.queries} <= {"train", "val", "test"}
    assert len(catalogs.build({"name": "mpd", "path": str(tmp_path), "max_slices": 1})) == 4


def test_mpd_malformed(tmp_path):
    bad = mpd_slice([0])
    del bad["playlists"][0]["tracks"][1]["track_uri"]
    (tmp_path / "mpd.slice.0-999.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"mpd.slice.0-999.json playlist 0 track #1: missing field 'track_uri'"):
        catalogs.build({"name": "mpd", "path": str(tmp_path)})
    with pytest.raises(DataError, match="no mpd.slice"):
        catalogs.build({"name": "mpd", "path": str(tmp_path / "nowhere")})


def test_mpd_max_slices_takes_slices_in_numeric_order(tmp_path):
    for start in (0, 1000, 10000, 2000):
        (tmp_path / f"mpd.slice.{start}-{start + 999}.json").write_text(json.dumps(mpd_slice([start])))
    cat = catalogs.build({"name": "mpd", "path": str(tmp_path), "max_slices": 3})
    songs = sorted(int(t.split(" by ")[0].removeprefix("Song ")) for t in cat.item_texts)
    assert songs == [0, 1, 2, 1000, 1001, 1002, 2000, 2001, 2002]  # as text, 10000 would come before 2000
