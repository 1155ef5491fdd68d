import time

import numpy as np
import pytest
import torch

from r4t.errors import ConfigError
from r4t.retrievers import retrievers
from r4t.retrievers.dpp import greedy_map
from r4t.retrievers.mmr import mmr_select

SPECS = ["dense_topk", {"name": "mmr", "lambda_": 0.5}, {"name": "dpp", "alpha": 3.0}, {"name": "dpp", "window": 4},
         {"name": "query_jitter", "scale": 1.0}]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s if isinstance(s, str) else "-".join(map(str, s.values())))
def test_contract_k_distinct_real_ids(tiny_data, spec):
    r = retrievers.build(spec, data=tiny_data)
    queries = [q.text for q in tiny_data.catalog.queries[:4]]
    sets = r.retrieve(queries, 10)
    known = set(tiny_data.catalog.item_ids)
    assert len(sets) == 4
    for s in sets:
        assert len(s) == len(set(s)) == 10 and set(s) <= known
    with pytest.raises(ConfigError, match="between 1 and the catalog size"):
        r.retrieve(queries[:1], len(tiny_data.catalog) + 1)


def same_scores(data, emb, sets_a, sets_b):
    """Equal sets up to the order of items and ties in score (the hashing embedder has ties)."""
    score = lambda sets: [np.sort(data.item_emb[s] @ q) for s, q in zip(sets, emb)]  # noqa: E731
    return all(np.allclose(a, b, atol=1e-6) for a, b in zip(score(sets_a), score(sets_b)))


def test_query_jitter_known_answers(tiny_data):
    texts = [q.text for q in tiny_data.catalog.queries[:5]]
    emb = tiny_data.query_emb[:5]
    # Scale 0: ten copies of the query vector are dense top-k exactly.
    zero = retrievers.build({"name": "query_jitter", "scale": 0.0}, data=tiny_data)
    top = retrievers.build("dense_topk", data=tiny_data)
    assert same_scores(tiny_data, emb, zero.retrieve_indices_for(texts, emb, 10), top.retrieve_indices_for(texts, emb, 10))
    # The noise has the documented norm (scale x a unit vector's norm, on average) and is
    # seeded per query text: the same set whatever batch the query is served in.
    jitter = retrievers.build({"name": "query_jitter", "scale": 1.0, "copies": 200}, data=tiny_data)
    dirs = jitter.directions(texts, emb)
    norms = np.linalg.norm(dirs[0] - emb[0], axis=1)
    assert dirs[0].shape == (200, emb.shape[1]) and abs(norms.mean() - 1.0) < 0.1
    j10 = retrievers.build({"name": "query_jitter", "scale": 1.0}, data=tiny_data)
    alone = j10.retrieve_indices_for(texts[2:3], emb[2:3], 10)
    assert j10.retrieve_indices_for(texts, emb, 10)[2] == alone[0]
    reseeded = retrievers.build({"name": "query_jitter", "scale": 1.0, "seed": 1}, data=tiny_data)
    assert reseeded.retrieve_indices_for(texts, emb, 10) != j10.retrieve_indices_for(texts, emb, 10)
    with pytest.raises(ConfigError, match="scale"):
        retrievers.build({"name": "query_jitter", "scale": -1.0}, data=tiny_data)
    # repulsion (the control for a repelled diffusion retriever) spreads the same draws apart.
    repelled = retrievers.build({"name": "query_jitter", "scale": 1.0, "repulsion": 0.5}, data=tiny_data).directions(texts, emb)
    plain = j10.directions(texts, emb)
    for r, d in zip(repelled, plain):
        assert np.linalg.norm(r[:, None] - r[None], axis=-1).mean() > np.linalg.norm(d[:, None] - d[None], axis=-1).mean()
    with pytest.raises(ConfigError, match="repulsion"):
        retrievers.build({"name": "query_jitter", "repulsion": -1.0}, data=tiny_data)


def test_fanout_fallback_is_named_and_logged(tiny_data, tiny_policy_dir):
    from r4t.errors import DataError

    texts = [q.text for q in tiny_data.catalog.queries_for(kind="open")[:3]]
    emb = tiny_data.query_emb[[tiny_data.catalog.queries.index(q) for q in tiny_data.catalog.queries_for(kind="open")[:3]]]
    cut = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "subqueries": 3, "max_new_tokens": 2}, data=tiny_data)
    sets = cut.retrieve_indices_for(texts, emb, 10)
    assert cut.parsed_log == [False] * 3 and cut.parse_failures == 3
    assert same_scores(tiny_data, emb, sets, retrievers.build("dense_topk", data=tiny_data).retrieve_indices_for(texts, emb, 10))  # the fallback
    strict = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "subqueries": 3, "max_new_tokens": 2,
                               "fallback": "error"}, data=tiny_data)
    with pytest.raises(DataError, match="did not parse"):
        strict.retrieve_indices_for(texts, emb, 10)
    with pytest.raises(ConfigError, match="fallback"):
        retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "fallback": "silent"}, data=tiny_data)
    full = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "subqueries": 3, "max_new_tokens": 48}, data=tiny_data)
    full.retrieve_indices_for(texts, emb, 10)
    assert len(full.parsed_log) == 3 and len(full.completion_tokens) == 3 and all(1 <= t <= 48 for t in full.completion_tokens)


def test_mmr_lambda_extremes(tiny_data):
    q = tiny_data.query_emb[:3]
    top = retrievers.build("dense_topk", data=tiny_data).retrieve_indices(q, 10)
    mmr1 = retrievers.build({"name": "mmr", "lambda_": 1.0}, data=tiny_data).retrieve_indices(q, 10)
    score = lambda sets: np.stack([tiny_data.item_emb[s] @ qi for s, qi in zip(sets, q)])  # noqa: E731
    np.testing.assert_allclose(score(mmr1), score(top), atol=1e-6)  # lambda 1 = top-k order (up to score ties)
    rel = np.array([0.9, 0.89, 0.1])
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert mmr_select(rel, emb, 2, lambda_=0.0) == [0, 2]  # pure diversity skips the duplicate
    assert mmr_select(rel, emb, 2, lambda_=1.0) == [0, 1]
    with pytest.raises(ConfigError, match="lambda_"):
        retrievers.build({"name": "mmr", "lambda_": 1.5}, data=tiny_data)


def brute_greedy(kernel, k):
    chosen = []
    for _ in range(k):
        best, value = None, -np.inf
        for i in range(len(kernel)):
            if i in chosen:
                continue
            idx = chosen + [i]
            sign, logdet = np.linalg.slogdet(kernel[np.ix_(idx, idx)])
            if sign > 0 and logdet > value:
                best, value = i, logdet
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(5))
def test_dpp_fast_greedy_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((25, 10))
    kernel = x @ x.T + 1e-3 * np.eye(25)
    assert greedy_map(kernel, 8) == brute_greedy(kernel, 8)


def test_dpp_stops_at_epsilon_and_retriever_still_fills_k(tiny_data):
    rank2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert len(greedy_map(rank2 @ rank2.T, 3)) == 2  # a rank-2 kernel admits only 2 items
    r = retrievers.build({"name": "dpp", "alpha": 50.0, "pool_size": 20}, data=tiny_data)
    assert all(len(set(s)) == 10 for s in r.retrieve_indices(tiny_data.query_emb[:2], 10))


def test_dpp_greedy_is_linear_in_pool_size():
    rng = np.random.default_rng(0)
    timings = []
    for m in (500, 2000):
        x = rng.standard_normal((m, 32))
        kernel = x @ x.T
        t0 = time.perf_counter()
        for _ in range(3):
            greedy_map(kernel, 20)
        timings.append(time.perf_counter() - t0)
    assert timings[1] / timings[0] < 12  # O(k^2 M): 4x the pool is far from the 64x of O(M^3)


def test_diversifiers_beat_topk_on_diversity(tiny_data):
    import torch

    from r4t.rewards import functional as F

    q = tiny_data.query_emb[:20]

    def vendi(spec):
        sets = retrievers.build(spec, data=tiny_data).retrieve_indices(q, 10)
        return F.normalized_vendi(torch.from_numpy(tiny_data.item_emb[np.array(sets)])).mean().item()

    top = vendi("dense_topk")
    assert vendi({"name": "mmr", "lambda_": 0.3}) > top
    assert vendi({"name": "dpp", "alpha": 2.0}) > top


@pytest.mark.parametrize("name", ["fanout_lm", "best_of_n"])
def test_lm_retrievers_return_k_distinct_items(tiny_data, tiny_policy_dir, name):
    spec = {"name": name, "policy": str(tiny_policy_dir), "max_new_tokens": 96}
    if name == "best_of_n":
        spec["n"] = 3
    r = retrievers.build(spec, data=tiny_data)
    queries = [q.text for q in tiny_data.catalog.queries_for(kind="open")[:3]]
    sets = r.retrieve(queries, 10)
    known = set(tiny_data.catalog.item_ids)
    assert all(len(s) == len(set(s)) == 10 and set(s) <= known for s in sets)
    assert 0 <= r.parse_failures <= 3
    with pytest.raises(ConfigError, match="needs the query texts"):
        r.retrieve_indices(tiny_data.query_emb[:1], 10)


def test_fanout_lm_embeds_only_sub_queries_and_unparsed_queries_in_one_call(tiny_data, tiny_policy_dir, monkeypatch):
    r = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir)}, data=tiny_data)
    assert not r.uses_query_embedding
    queries = [q.text for q in tiny_data.catalog.queries_for(kind="open")[:2]]
    subs = ["upbeat jazz", "mellow piano"]
    monkeypatch.setattr(r.policy, "sample", lambda texts, n, **kw: [['<queries>["upbeat jazz", "mellow piano"]</queries>'], ["no json"]])
    calls = []
    encode = tiny_data.embedder.encode
    monkeypatch.setattr(tiny_data.embedder, "encode", lambda texts, **kw: calls.append(list(texts)) or encode(texts, **kw))
    r.clear_caches()
    got = r.retrieve(queries, 10)
    # The query texts are never encoded up front; the unparsed second query falls back to
    # itself, embedded in the same call as the first query's sub-queries.
    assert calls == [subs + [queries[1]]]
    assert r.parse_failures == 1
    ids = tiny_data.catalog.item_ids
    assert got[0] == [ids[i] for i in tiny_data.item_index.search_distinct(encode(subs), 10)]
    assert got[1] == [ids[i] for i in tiny_data.item_index.search_distinct(encode([queries[1]]), 10)]
    # Callers that already hold the query vectors (the quality evaluator) pass them instead.
    calls.clear()
    r.clear_caches()
    assert r.retrieve_indices_for(queries, encode(queries), 10)[1] == tiny_data.item_index.search_distinct(encode([queries[1]]), 10)
    assert calls == [subs]


def test_fanout_lm_anchor_searches_from_between_sub_query_and_query(tiny_data, tiny_policy_dir, monkeypatch):
    queries = [q.text for q in tiny_data.catalog.queries_for(kind="open")[:2]]
    fixed = lambda texts, n, **kw: [['<queries>["upbeat jazz", "mellow piano"]</queries>'], ["no json"]]  # noqa: E731
    encode = tiny_data.embedder.encode
    ids = tiny_data.catalog.item_ids
    r = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "anchor": 0.6}, data=tiny_data)
    monkeypatch.setattr(r.policy, "sample", fixed)
    got = r.retrieve(queries, 10)
    q, subs = encode([queries[0]]), encode(["upbeat jazz", "mellow piano"])
    rows = 0.6 * q + 0.4 * subs
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    assert got[0] == [ids[i] for i in tiny_data.item_index.search_distinct(rows, 10)]
    assert got[1] == [ids[i] for i in tiny_data.item_index.search(encode([queries[1]]), 10)[1][0]]  # unparsed: dense top-k
    plain = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir)}, data=tiny_data)
    monkeypatch.setattr(plain.policy, "sample", fixed)
    assert plain.retrieve(queries, 10)[0] == [ids[i] for i in tiny_data.item_index.search_distinct(subs, 10)]  # anchor 0: unchanged
    with pytest.raises(ConfigError, match="anchor must be in"):
        retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "anchor": 1.0}, data=tiny_data)


def test_fanout_lm_rows_dpp_is_dpp_over_the_query_pool_with_sub_query_quality(tiny_data, tiny_policy_dir, monkeypatch):
    from r4t.retrievers.dpp import rows_dpp

    queries = [q.text for q in tiny_data.catalog.queries_for(kind="open")[:2]]
    fixed = lambda texts, n, **kw: [['<queries>["upbeat jazz", "mellow piano"]</queries>'], ["no json"]]  # noqa: E731
    encode = tiny_data.embedder.encode
    ids = tiny_data.catalog.item_ids
    r = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "anchor": 0.5, "grounding": "rows_dpp", "alpha": 3.0},
                         data=tiny_data)
    monkeypatch.setattr(r.policy, "sample", fixed)
    got = r.retrieve(queries, 10)
    q = encode(queries)
    rows = 0.5 * q[:1] + 0.5 * encode(["upbeat jazz", "mellow piano"])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    pool = tiny_data.item_index.search(q[:1], 100)[1]
    assert got[0] == [ids[i] for i in rows_dpp(rows[None], pool, tiny_data.item_emb, 3.0, 10)[0]]
    assert set(got[0]) <= {ids[i] for i in pool[0]} and len(set(got[0])) == 10  # inside the query's own top-100
    assert got[1] == [ids[i] for i in tiny_data.item_index.search(q[1:], 10)[1][0]]  # unparsed: still dense top-k
    with pytest.raises(ConfigError, match="grounding must be one of"):
        retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "grounding": "pool"}, data=tiny_data)


def test_best_of_n_returns_the_highest_reward_sample(tiny_data, tiny_policy_dir):
    from r4t.fanout.grounding import FanoutGrounder
    from r4t.rewards import build_reward

    r = retrievers.build({"name": "best_of_n", "policy": str(tiny_policy_dir), "n": 4, "max_new_tokens": 96}, data=tiny_data)
    reward, grounder = build_reward(None), FanoutGrounder(tiny_data)
    q = tiny_data.catalog.queries_for(kind="open")[0].text
    samples = r.policy.sample([q], 4, seed=r.seed)[0]  # the same seeded samples best_of_n draws
    grounded = [g for g in grounder.ground(samples, [q] * 4) if g is not None]
    if grounded:  # the best-scoring fan-out's sub-queries are the directions
        best = max(grounded, key=lambda g: float(reward(g.batch).total[0]))
        directions = tiny_data.embedder.encode(best.subqueries)
    else:  # nothing parsed: the query itself is the only direction
        directions = tiny_data.embedder.encode([q])
    # one direction is plain top-k (the fallback is exactly dense_topk's call), several are de-duplicated
    idx = tiny_data.item_index
    expected = idx.search(directions, 10)[1][0].tolist() if len(directions) == 1 else idx.search_distinct(directions, 10)
    assert r.retrieve_indices_for([q], tiny_data.embedder.encode([q]), 10) == [expected]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["raw_diffusion", "r4t_diffusion"])
def test_diffusion_retrievers_from_a_fit_checkpoint(tiny_data, tmp_path, monkeypatch, capsys, name):
    from r4t.cli import main
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.errors import DataError
    from tests.conftest import TINY_CONFIG

    monkeypatch.chdir(tmp_path)
    assert main(["fit", "-c", str(TINY_CONFIG), "--trainer.enable_checkpointing=true", f"--run_dir={tmp_path}/run"]) == 0
    (ckpt,) = (tmp_path / "run" / "diffusion").rglob("last.ckpt")
    data = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64}, run_dir=str(tmp_path / "run")), quiet=True)
    # the checkpoint names the catalog and embeddings it was trained on (checked when it is loaded)
    assert torch.load(ckpt, weights_only=True)["r4t_data"] == {"catalog_fingerprint": data.catalog.fingerprint(),
                                                               "embeddings": data.paths["embeddings"].name}
    r = retrievers.build({"name": name, "checkpoint": str(ckpt), "sampler": {"name": "euler", "steps": 4}}, data=data)
    sets = r.retrieve([q.text for q in data.catalog.queries[:3]], 10)
    assert all(len(s) == len(set(s)) == 10 and set(s) <= set(data.catalog.item_ids) for s in sets)
    assert r.retrieve_indices(data.query_emb[:2], 10) == r.retrieve_indices(data.query_emb[:2], 10)  # seeded
    assert (r.sampler.sigma_min, r.sampler.sigma_max) == (1e-4, 80.0)  # the model's trained range by default
    ranged = retrievers.build({"name": name, "checkpoint": str(ckpt), "sampler": {"name": "euler", "steps": 4, "sigma_max": 1.0}}, data=data)
    assert (ranged.sampler.sigma_min, ranged.sampler.sigma_max) == (1e-4, 1.0)  # a spec's own range is kept, not overwritten
    pooled = retrievers.build({"name": name, "checkpoint": str(ckpt), "sampler": {"name": "euler", "steps": 4}, "pool": 20}, data=data)
    top20 = data.item_index.search(data.query_emb[:3], 20)[1]
    got = pooled.retrieve_indices(data.query_emb[:3], 10)
    assert all(len(set(s)) == 10 and set(s) <= set(p.tolist()) for s, p in zip(got, top20))  # inside each query's dense top-20
    with pytest.raises(ConfigError, match="pool must be a whole number"):
        retrievers.build({"name": name, "checkpoint": str(ckpt), "pool": 0}, data=data)
    # repulsion reaches the sampler: the same seeded noise gives more spread rows
    spec = {"name": name, "checkpoint": str(ckpt), "sampler": {"name": "dpmpp_2m", "steps": 4}}
    plain_rows, repelled_rows = (retrievers.build({**spec, "repulsion": g}, data=data).generate(data.query_emb[:3]) for g in (0.0, 0.5))
    spread = [float(np.linalg.norm(rows[:, :, None] - rows[:, None], axis=-1).mean()) for rows in (plain_rows, repelled_rows)]
    assert spread[1] > spread[0]
    with pytest.raises(ConfigError, match="repulsion"):
        retrievers.build({**spec, "repulsion": -1.0}, data=data)
    # rows_dpp grounding: DPP over the query's dense top-100, quality from the model's rows
    top100 = data.item_index.search(data.query_emb[:3], 100)[1]
    grounded = retrievers.build({**spec, "grounding": "rows_dpp", "alpha": 3.0}, data=data).retrieve_indices(data.query_emb[:3], 10)
    assert all(len(set(s)) == 10 and set(s) <= set(p.tolist()) for s, p in zip(grounded, top100))
    jitter = retrievers.build({"name": "query_jitter", "scale": 2.0, "pool": 20}, data=data)  # the control grounds the same way
    assert all(set(s) <= set(p.tolist()) for s, p in zip(jitter.retrieve_indices(data.query_emb[:3], 10), top20))
    other = prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 32}, run_dir=str(tmp_path / "run2")), quiet=True)
    with pytest.raises(DataError, match="model dim 64 does not match the catalog embeddings' 32"):
        retrievers.build({"name": name, "checkpoint": str(ckpt)}, data=other)
    if name == "r4t_diffusion":  # the steps x temperature table runs on a real checkpoint
        _check_sampler_table(ckpt, monkeypatch, capsys)


def _check_sampler_table(ckpt, monkeypatch, capsys) -> None:
    import runpy
    import sys
    from pathlib import Path

    from r4t.errors import ConfigError
    from tests.conftest import TINY_CONFIG

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "sampler_steps_quality.py"
    args = ["--checkpoint", str(ckpt), "--split", "val", "--samplers", "dpmpp_2m", "--steps", "2", "--temperatures", "1", "3", "--batch", "2"]
    monkeypatch.setattr(sys, "argv", ["sampler_steps_quality.py", "-c", str(TINY_CONFIG), *args])
    with pytest.raises(ConfigError, match="needs a `reward:` section"):
        runpy.run_path(str(script), run_name="__main__")
    config = ckpt.parents[3] / "with_reward.yaml"
    config.write_text(TINY_CONFIG.read_text() + "reward: {components: {groundedness: 0.6, vendi_diversity: 0.2, alignment: 0.2}}\n")
    monkeypatch.setattr(sys, "argv", ["sampler_steps_quality.py", "-c", str(config), *args])
    capsys.readouterr()
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| dpmpp_2m")]
    assert [(r[2].strip(), r[3].strip(), r[5].strip()) for r in rows] == [("2", "1", "2"), ("2", "3", "2")]  # steps, temperature, calls
    assert "open val queries" in out


def test_rows_dpp_on_the_query_itself_is_dpp_and_stays_in_the_pool(tiny_data):
    from r4t.retrievers.dpp import rows_dpp

    emb = tiny_data.query_emb[:6]
    texts = [q.text for q in tiny_data.catalog.queries[:6]]
    # Rows that all equal the query: quality = cos(item, query), exactly DPP's. query_jitter at scale 0 writes them.
    dpp = retrievers.build({"name": "dpp", "alpha": 3.0}, data=tiny_data)
    control = retrievers.build({"name": "query_jitter", "scale": 0.0, "grounding": "rows_dpp", "alpha": 3.0}, data=tiny_data)
    assert control.retrieve_indices_for(texts, emb, 10) == dpp.retrieve_indices_for(texts, emb, 10)
    # The rows decide which candidates count as relevant: rows on one item make it (and its like) the first pick.
    _, pool = tiny_data.item_index.search(emb, 100)
    target = pool[:, 50]  # an item far down each query's list
    rows = np.repeat(tiny_data.item_emb[target][:, None], 4, axis=1)
    sets = rows_dpp(rows, pool, tiny_data.item_emb, 3.0, 10)
    assert [s[0] for s in sets] == target.tolist()
    assert all(len(set(s)) == 10 and set(s) <= set(p.tolist()) for s, p in zip(sets, pool))
    with pytest.raises(ConfigError, match="cannot hold 10"):
        rows_dpp(rows, pool[:, :5], tiny_data.item_emb, 3.0, 10)
    with pytest.raises(ConfigError, match="grounding must be one of"):
        retrievers.build({"name": "query_jitter", "grounding": "mmr"}, data=tiny_data)
    with pytest.raises(ConfigError, match="alpha must be a finite number"):
        retrievers.build({"name": "query_jitter", "grounding": "rows_dpp", "alpha": -1.0}, data=tiny_data)
