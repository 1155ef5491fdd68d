"""The data stage caches by what made each artefact."""

from r4t.data.prepare import DataConfig, prepare_data


def test_second_run_reuses_and_changed_embedder_reembeds_only(tmp_path, capsys):
    cfg = DataConfig(catalog={"name": "fashion", "size": "tiny"}, embedder={"name": "hashing", "dim": 32}, run_dir=str(tmp_path))
    first = prepare_data(cfg)
    out = capsys.readouterr().out
    assert "catalog: built" in out and "embeddings:" in out and "reusing" not in out
    second = prepare_data(cfg)
    out = capsys.readouterr().out
    assert out.count("reusing") == 4  # catalog, embeddings, two indexes
    assert (second.item_emb == first.item_emb).all()
    assert second.paths == first.paths

    cfg.embedder = {"name": "hashing", "dim": 48}
    third = prepare_data(cfg)
    out = capsys.readouterr().out
    assert "catalog: reusing" in out and "embeddings: reusing" not in out
    assert third.item_emb.shape == (len(third.catalog), 48)


def test_prepared_data_is_consistent(tiny_data):
    d = tiny_data
    assert d.item_emb.shape[0] == len(d.catalog) == d.item_index.ntotal
    assert len(d.query_emb) == len(d.catalog.queries)
    assert len(d.collection_emb) == len(d.collection_title_emb) == len(d.catalog.collections)
    # an item's nearest neighbour in the index is itself
    assert d.item_index.search(d.item_emb[:5], 1)[1][:, 0].tolist() == [0, 1, 2, 3, 4]


def test_incomplete_cache_fails_with_a_message(tmp_path):
    import pytest

    from r4t.errors import DataError

    cfg = DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 16}, run_dir=str(tmp_path))
    data = prepare_data(cfg, quiet=True)
    (data.paths["embeddings"] / "queries.npy").unlink()
    with pytest.raises(DataError, match=r"missing \['queries.npy'\]\); delete the folder to rebuild"):
        prepare_data(cfg, quiet=True)


def test_runtime_only_embedder_settings_do_not_change_the_cache_key():
    from r4t.data.prepare import _cache_spec

    assert _cache_spec({"name": "minilm", "dim": 128, "fast_path": False}) == {"name": "minilm", "dim": 128}
    plain = {"name": "minilm", "dim": 128}
    assert _cache_spec(plain) is plain and _cache_spec("minilm") == "minilm"  # existing keys stay as they were
