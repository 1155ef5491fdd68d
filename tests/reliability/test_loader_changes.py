"""#17 finding 5: what a real-data loader changes in the data is counted and said, never silent."""

import json

import yaml

from r4t.cli import main
from r4t.data.sources import catalogs
from tests.data.test_loaders import han_outfit, mpd_slice


def test_polyvore_counts_every_change(tmp_path):
    root = tmp_path / "polyvore"
    root.mkdir()
    untitled = {**han_outfit("102", ["wool coat", "boots"]), "name": ""}
    repeated = han_outfit("101", ["denim skirt", "white tee", ""])
    repeated["items"].append(dict(repeated["items"][0]))                          # the skirt twice in one outfit
    repeated["items"].append({**repeated["items"][1], "name": "a white t-shirt"})  # same id, another text
    (root / "train_no_dup.json").write_text(json.dumps([repeated, untitled]))
    for stem, sid in (("valid", "201"), ("test", "301")):
        (root / f"{stem}_no_dup.json").write_text(json.dumps([han_outfit(sid, ["silk blouse", "heels"])]))
    cat = catalogs.build({"name": "polyvore", "path": str(root)})
    assert cat.meta["import_report"]["notes"] == [
        "1 items had no text and are described by their id",
        "1 item ids appeared again with another text (the first text is kept)",  # the skirt repeated with its own text is not
        "2 repeated items within an outfit were dropped",
        "1 outfits had no title: titled by their id, and no query made from them",
    ]


def test_mpd_counts_every_change_and_r4t_data_says_so(tmp_path, monkeypatch, capsys):
    data = mpd_slice([0, 1])
    first = data["playlists"][0]
    first["tracks"].append(dict(first["tracks"][0]))                                # a track twice in one playlist
    data["playlists"][1]["tracks"][0] = {**data["playlists"][1]["tracks"][0], "track_name": "Song 1 (Remastered)"}
    data["playlists"][1]["name"] = "  "
    (tmp_path / "mpd.slice.0-999.json").write_text(json.dumps(data))
    cat = catalogs.build({"name": "mpd", "path": str(tmp_path)})
    assert cat.meta["import_report"]["notes"] == [
        "1 repeated tracks within a playlist were dropped",
        "1 track URIs appeared again under another track or artist name (the first is kept)",
        "1 playlists had no name: titled by their id, and no query made from them",
    ]
    config = tmp_path / "mpd.yaml"
    config.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "runs"), "catalog": {"name": "mpd", "path": str(tmp_path)},
                                      "embedder": {"name": "hashing", "dim": 16}}))
    monkeypatch.chdir(tmp_path)
    assert main(["data", "-c", str(config)]) == 0
    assert ("[r4t data] catalog: loading changed the data: 1 repeated tracks within a playlist were dropped; 1 track URIs "
            "appeared again") in capsys.readouterr().out
    assert main(["catalog", "validate", "-c", str(config)]) == 0
    assert "[r4t catalog] note: 1 playlists had no name" in capsys.readouterr().out
