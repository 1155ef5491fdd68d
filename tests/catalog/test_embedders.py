import numpy as np
import pytest

from r4t.catalog.embedders import check_embeddings, embedders
from r4t.errors import ConfigError, DataError


def test_hashing_is_deterministic_unit_norm_and_sized():
    emb = embedders.build({"name": "hashing", "dim": 128})
    texts = ["rainy day jazz", "road trip rock anthems", "rainy day jazz"]
    a, b = emb.encode(texts), emb.encode(texts)
    assert a.shape == (3, 128) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a[0], a[2])
    assert a[0] @ a[1] < 0.5


def test_hashing_rejects_text_without_tokens():
    with pytest.raises(DataError, match="no word tokens"):
        embedders.build("hashing").encode(["!!!"])


def test_check_embeddings_rejects_nan_and_wrong_dim():
    with pytest.raises(DataError, match="row 1 contains NaN"):
        check_embeddings(np.array([[1.0, 0.0], [np.nan, 1.0]]), "test")
    with pytest.raises(DataError, match="dimension 2 does not match the expected 3"):
        check_embeddings(np.ones((2, 2)), "test", dim=3)


def test_minilm_offline_semantics_and_projection():
    full = embedders.build("minilm")
    texts = ["smooth jazz piano trio", "jazz piano ballads", "heavy metal guitar riffs"]
    e = full.encode(texts)
    assert e.shape == (3, 384)
    assert e[0] @ e[1] > e[0] @ e[2]  # a real sentence model, not noise
    small = embedders.build({"name": "minilm", "dim": 128})
    p = small.encode(texts)
    assert p.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, rtol=1e-5)
    assert p[0] @ p[1] > p[0] @ p[2]  # the projection keeps the geometry


def test_minilm_bf16_mixed_matches_float32_and_is_keyed_apart():
    texts = ["smooth jazz piano trio", "jazz piano ballads", "heavy metal guitar riffs", "rainy day road trip songs"]
    fp32 = embedders.build({"name": "minilm", "precision": 32})  # YAML's int spelling is accepted
    bf16 = embedders.build({"name": "minilm", "precision": "bf16-mixed"})
    a, b = fp32.encode(texts), bf16.encode(texts)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-5)
    # Autocast keeps norms, softmax and pooling in float32: the vectors agree to ~1e-4.
    assert (a * b).sum(axis=1).min() > 0.999
    assert np.array_equal(np.argsort(-(a @ a.T), axis=1), np.argsort(-(b @ a.T), axis=1))
    assert fp32.spec()["precision"] == "32" and bf16.spec()["precision"] == "bf16-mixed"


def test_minilm_fast_path_matches_the_plain_forward_and_is_not_in_the_spec():
    from r4t.inference import prepack_available

    texts = ["smooth jazz piano trio", "jazz piano ballads for a late night drive", "heavy metal", "rainy day road trip songs"]
    plain = embedders.build({"name": "minilm", "fast_path": False})
    fast = embedders.build({"name": "minilm", "fast_path": True})
    assert plain.prepacked_layers == 0 and plain._fast_forward is None
    assert fast._fast_forward is not None  # MiniLM is a BERT: the lean forward applies
    assert fast.prepacked_layers == (37 if prepack_available() else 0)  # 6 layers x (q, k, v, out, up, down) + pooler
    a, b = plain.encode(texts), fast.encode(texts)
    assert (a * b).sum(axis=1).min() > 1 - 1e-6  # float32 rounding only
    assert plain.spec() == fast.spec()  # an execution detail, like the thread count
    bf16 = embedders.build({"name": "minilm", "precision": "bf16-mixed", "fast_path": True})
    assert (bf16.encode(texts) * a).sum(axis=1).min() > 0.999  # autocast still goes through the model's forward


def test_minilm_rejects_unknown_precision():
    with pytest.raises(ConfigError, match="precision must be one of"):
        embedders.build({"name": "minilm", "precision": "fp8"})


def test_with_precision_sets_it_only_where_an_embedder_has_one():
    from r4t.catalog.embedders import with_precision

    assert with_precision("minilm", "bf16-mixed") == {"name": "minilm", "precision": "bf16-mixed"}
    assert with_precision({"name": "minilm", "dim": 128, "precision": "32"}, "bf16-mixed") == {"name": "minilm", "dim": 128, "precision": "bf16-mixed"}
    with pytest.raises(ConfigError, match="'hashing' has no precision setting"):
        with_precision({"name": "hashing", "dim": 64}, "bf16-mixed")


def test_hashing_keeps_unicode_letters_and_ascii_tokens_unchanged():
    from r4t.catalog import embedders as module

    emb = embedders.build({"name": "hashing", "dim": 256})
    cafe, caf = emb.encode(["café noir", "caf noir"])
    assert not np.allclose(cafe, caf)  # the é is a letter, not a separator
    assert module._TOKEN.findall("rock 'n' roll, lo-fi_beats 2024") == ["rock", "n", "roll", "lo-fi", "beats", "2024"]
    assert module._TOKEN.findall("naïve café") == ["naïve", "café"]


def test_hashing_vectors_equal_the_per_feature_definition():
    """The batched bincount gives exactly the signed feature counts of the definition:
    each unigram and bigram adds +-1 (crc32 sign bit) to column crc32 % dim."""
    import zlib

    from r4t.catalog import embedders as module

    dim, seed = 8, 3  # a small dim: columns collide and signs cancel
    texts = ["rainy day jazz rainy day", "café noir", "lo-fi beats lo-fi beats", "a b c d e f g h i j", "jazz"]
    expected = np.zeros((len(texts), dim))
    for row, text in enumerate(texts):
        tokens = module._TOKEN.findall(text.lower())
        for feat in tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]:
            h = zlib.crc32(f"{seed}{feat}".encode())
            expected[row, h % dim] += 1.0 if (h >> 31) & 1 else -1.0
    raw = embedders.build({"name": "hashing", "dim": dim, "seed": seed})._encode_raw(texts)
    rows = expected.any(axis=1)  # an all-cancelled row gets its fallback column instead
    np.testing.assert_array_equal(raw[rows], expected[rows].astype(np.float32))
    assert raw.dtype == np.float32 and (raw != 0).any(axis=1).all()
