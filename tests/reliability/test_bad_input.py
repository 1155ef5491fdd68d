"""Bad input fails early, with a message naming the file / field / value, and leaves no
partial output. (Loader formats are fuzzed in test_fuzz_loaders.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from r4t.catalog.catalog import Catalog
from r4t.catalog.embedders import check_embeddings, l2_normalize
from r4t.catalog.index import CatalogIndex
from r4t.cli import main
from r4t.data.datamodules import check_shard_manifest
from r4t.data.sources import catalogs
from r4t.errors import ConfigError, DataError
from r4t.retrievers import retrievers
from tests.reliability.helpers import CONF, save_small_checkpoint


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "text": "x", "attributes": {}}\n{"id": ', "items.jsonl:2: invalid JSON"),  # truncated
    ('{"id": "a", "text": 5, "attributes": {}}\n', "item 'a' has an empty or non-string text"),  # wrong type
    ('{"id": "a", "attributes": {}}\n', "malformed catalog record .*'text'"),                  # missing field
    ("", "the catalog has no items"),                                                          # empty catalog
])
def test_saved_catalog_files(tmp_path, content, message):
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps({"name": "x", "domain": "music", "attributes": []}))
    (folder / "items.jsonl").write_text(content)
    for name in ("collections.jsonl", "queries.jsonl"):
        (folder / name).write_text("")
    with pytest.raises(DataError, match=message):
        catalogs.build({"name": "saved", "path": str(folder)})


def test_unknown_item_ids_and_empty_sets_in_collections():
    base = dict(name="t", domain="music", item_ids=["a", "b"], item_texts=["x", "y"])
    from r4t.catalog.catalog import Collection

    with pytest.raises(DataError, match="collection 'c1' refers to unknown item index 7"):
        Catalog(**base, collections=[Collection("c1", "t", [0, 7])]).validate()
    with pytest.raises(DataError, match="collection 'c1' has no items"):
        Catalog(**base, collections=[Collection("c1", "t", [])]).validate()
    with pytest.raises(DataError, match="the catalog has no items"):
        Catalog(name="t", domain="music", item_ids=[], item_texts=[]).validate()


def test_k_larger_than_catalog(tiny_data):
    with pytest.raises(ConfigError, match=f"between 1 and the catalog size {len(tiny_data.catalog)}"):
        retrievers.build("dense_topk", data=tiny_data).retrieve(["jazz"], len(tiny_data.catalog) + 1)


@pytest.mark.parametrize("bad, message", [(np.nan, "row 1 contains NaN or inf"), (np.inf, "row 1 contains NaN or inf")])
def test_nan_inf_embeddings(bad, message):
    x = np.ones((3, 4), dtype=np.float32)
    x[1, 2] = bad
    with pytest.raises(DataError, match=message):
        check_embeddings(x, "item embeddings")


def test_zero_norm_and_dimension_mismatch(tiny_data):
    x = np.ones((3, 4), dtype=np.float32)
    x[2] = 0
    with pytest.raises(DataError, match="row 2 has zero norm"):
        l2_normalize(x, "item embeddings")
    with pytest.raises(DataError, match="dimension 32 does not match the expected 64"):
        tiny_data.item_index.search(np.ones((1, 32), dtype=np.float32), 3)


def test_index_from_other_vectors_is_refused(tiny_data):
    with pytest.raises(DataError, match="index was built from other vectors"):
        CatalogIndex.load(tiny_data.paths["index"] / "items", expected_fingerprint="0" * 16)


def test_config_typos_list_the_valid_names(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text((CONF / "tiny.yaml").read_text().replace("name: hashing", "name: hashin"))
    assert main(["data", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown embedders 'hashin'" in err and "hashing" in err and "Traceback" not in err
    cfg.write_text((CONF / "tiny.yaml").read_text() + "\nrewrd: {}\n")
    assert main(["data", "-c", str(cfg)]) == 2
    assert "unknown top-level key(s) ['rewrd']" in capsys.readouterr().err
    cfg.write_text((CONF / "tiny.yaml").read_text() + "\n1: {}\n")  # a key YAML reads as an int (sorting it with str keys raised TypeError)
    assert main(["data", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown top-level key(s) ['1']" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing was written before the error


def test_checkpoint_from_another_config(tiny_data, tmp_path):
    path = save_small_checkpoint(tmp_path / "other.ckpt", dim=32)
    with pytest.raises(DataError, match="model dim 32 does not match the catalog embeddings' 64"):
        retrievers.build({"name": "r4t_diffusion", "checkpoint": str(path)}, data=tiny_data)


def test_shards_from_another_embedder(tiny_data):
    manifest = {"catalog_fingerprint": tiny_data.catalog.fingerprint(), "vectors_id": "abc/def", "embedder": {"name": "minilm"}}
    with pytest.raises(ConfigError, match="synthesized with embedder .*minilm.* this config uses"):
        check_shard_manifest(manifest, tiny_data, "shards/x")
    with pytest.raises(ConfigError, match="for catalog"):
        check_shard_manifest({"catalog_fingerprint": "0" * 16}, tiny_data, "shards/x")
    check_shard_manifest({"catalog_fingerprint": tiny_data.catalog.fingerprint(), "vectors_id": tiny_data.vectors_id}, tiny_data, "ok")
