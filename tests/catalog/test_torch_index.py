import numpy as np
import pytest
import torch

from r4t.catalog.index import CatalogIndex
from r4t.catalog.torch_index import TorchExactIndex
from r4t.errors import ConfigError, DataError
from tests.catalog.helpers import unit


def test_same_ranking_as_faiss_flat_and_chunking_changes_nothing():
    rng = np.random.default_rng(0)
    base, queries = unit(rng, 700), unit(rng, 37)
    f_scores, f_ids = CatalogIndex(base).search(queries, 7)
    for chunk in (4096, 5):  # one product, or 8 products of at most 5 queries
        t_scores, t_ids = TorchExactIndex(base, chunk=chunk).search(queries, 7)
        np.testing.assert_array_equal(t_ids, f_ids)
        np.testing.assert_allclose(t_scores, f_scores, rtol=1e-5, atol=1e-6)


def test_search_distinct_grounds_like_the_faiss_index():
    rng = np.random.default_rng(1)
    base = unit(rng, 300)
    same = np.repeat(base[:1], 10, axis=0)  # ten identical rows: depth doubling must kick in
    rows = np.stack([base[:10] + 0.01 * unit(rng, 10), same, unit(rng, 10)])
    torch_index, faiss_index = TorchExactIndex(base), CatalogIndex(base)
    assert torch_index.search_distinct(rows, 10) == faiss_index.search_distinct(rows, 10)
    single = torch_index.search_distinct(same, 10)
    assert len(set(single)) == 10 and single[0] == 0


def test_bad_input_fails_in_one_line():
    base = unit(np.random.default_rng(2), 50)
    index = TorchExactIndex(base)
    with pytest.raises(ConfigError, match="only 50"):
        index.search_distinct(base[:3], 51)
    with pytest.raises(ConfigError, match="k=0"):
        index.search(base[:1], 0)
    with pytest.raises(DataError, match="dimension 8 does not match the expected 16"):
        index.search(np.ones((1, 8), np.float32), 1)
    with pytest.raises(DataError, match="empty catalog"):
        TorchExactIndex(np.zeros((0, 16), np.float32))
    with pytest.raises(ConfigError, match="dtype"):
        TorchExactIndex(base, dtype="int8")


def test_reduced_precision_keeps_the_nearest_item_and_says_what_it_is():
    base = unit(np.random.default_rng(3), 200)
    index = TorchExactIndex(base, dtype="bfloat16")
    assert index.search(base[:20], 1)[1][:, 0].tolist() == list(range(20))
    assert "bfloat16, cpu" in index.describe()["search"]
    assert index.search_tensor(torch.from_numpy(base[:2]), 3)[1].dtype == torch.int64


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(4)
    base, queries = unit(rng, 5000, 64), unit(rng, 64, 64)
    np.testing.assert_array_equal(TorchExactIndex(base, device="cuda").search(queries, 10)[1],
                                  TorchExactIndex(base).search(queries, 10)[1])
