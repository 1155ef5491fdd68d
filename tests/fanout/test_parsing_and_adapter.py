import pytest

from r4t.errors import ConfigError, DataError
from r4t.fanout.grounding import FanoutGrounder
from r4t.fanout.parsing import format_subqueries, parse_subqueries
from r4t.rewards import build_reward
from r4t.rewards.trl_adapter import trl_reward_functions


@pytest.mark.parametrize(
    "text, expected",
    [
        ('<think>plan</think><queries>["a b", "c"]</queries>', ["a b", "c"]),
        ('<queries>["draft"]</queries> then <queries>["final"]</queries>', ["final"]),  # last block wins
        ('<queries>```json\n["x", "x", "y"]\n```</queries>', ["x", "y"]),  # fences, duplicates dropped
        ('<queries>["open ended"]', ["open ended"]),  # missing closing tag tolerated
        ("no tags at all", None),
        ("<queries>not json</queries>", None),
        ('<queries>{"a": 1}</queries>', None),
        ('<queries>["", "x"]</queries>', None),
        ('<think><queries>["hidden"]</queries></think>', None),  # only text outside thinking counts
        ('< queries > [ " a b " , " c " ] < / queries >', ["a b", "c"]),  # word-level decoding
    ],
)
def test_parse_subqueries(text, expected):
    assert parse_subqueries(text) == expected


def test_parse_truncates_and_round_trips():
    subs = [f"q{i}" for i in range(12)]
    assert parse_subqueries(format_subqueries(subs, thinking="t")) == subs[:10]


def test_trl_functions_score_parse_failures_at_minimum_and_ground_once(tiny_data, monkeypatch):
    grounder = FanoutGrounder(tiny_data)
    calls = []
    original = grounder.ground
    monkeypatch.setattr(grounder, "ground", lambda *a, **k: calls.append(1) or original(*a, **k))
    reward = build_reward({"components": {"groundedness": 0.6, "vendi_diversity": 0.2, "alignment": 0.2}})
    funcs, weights, shared = trl_reward_functions(reward, grounder)
    q = tiny_data.catalog.queries[0]
    item_texts = tiny_data.catalog.item_texts[:3]
    completions = [format_subqueries(item_texts), "I cannot help with that"]
    scores = {f.__name__: f([q.text] * 2, completions, qid=[q.qid] * 2) for f in funcs}
    assert len(calls) == 1  # one grounding shared by all components
    assert weights == [0.6, 0.2, 0.2]
    assert scores["groundedness"][0] == pytest.approx(1.0, abs=1e-5)  # item texts land exactly on items
    assert scores["vendi_diversity"][0] > 0.5
    assert [s[1] for s in scores.values()] == [-1.0, 0.0, -1.0]  # each component's minimum
    assert shared.parse_failure_rate == 0.5
    chat = funcs[0]([[{"role": "user", "content": q.text}]], [[{"role": "assistant", "content": completions[0]}]])
    assert chat[0] == pytest.approx(1.0, abs=1e-5)  # conversational format works too


def test_served_grounding_scores_exactly_the_set_fanout_lm_serves(tiny_data):
    """reward_on: served -- the reward reads the k distinct items the retriever returns."""
    from r4t.stage_configs import RLConfig

    texts = [format_subqueries(["smooth jazz piano", "rainy evening", "late night saxophone"]), format_subqueries(["jazz"]),
             "unparsable"]
    queries = ["rainy-day jazz"] * 3
    served = FanoutGrounder(tiny_data, max_subqueries=10, served_k=5).ground(texts, queries)
    plain = FanoutGrounder(tiny_data, max_subqueries=10).ground(texts, queries)
    assert served[2] is None and plain[2] is None
    idx = tiny_data.item_index
    for g, p, n in zip(served[:2], plain[:2], (3, 1)):
        directions = tiny_data.embedder.encode(g.subqueries)
        expected = idx.search(directions, 5)[1][0].tolist() if n == 1 else idx.search_distinct(directions, 5)
        assert g.batch.item_ids == [expected] and len(set(expected)) == 5  # fanout_lm's own calls
        assert g.batch.item_emb.shape == (1, 5, tiny_data.item_emb.shape[1]) and p.batch.item_emb.shape[1] == n
    reward = build_reward({"components": {"alignment": 1.0, "groundedness": 1.0}})
    out = reward(served[0].batch)
    assert float(out.terms["groundedness"][0]) == pytest.approx(1.0)  # served items ground themselves
    # the new field keeps the old RL caches: it enters the cache key only when set
    assert "reward_on" not in RLConfig().cache_key() and RLConfig(reward_on="served").cache_key()["reward_on"] == "served"


def test_skipped_parse_failures_get_no_reward_and_the_trainer_takes_them(tiny_data):
    """rl.unparsable: skip -- None for a completion that does not parse (trl gives it no advantage)."""
    grounder = FanoutGrounder(tiny_data)
    reward = build_reward({"components": {"alignment": 1.0}})
    (func,), _, shared = trl_reward_functions(reward, grounder, unparsable="skip")
    q = tiny_data.catalog.queries[0]
    scores = func([q.text] * 2, [format_subqueries(tiny_data.catalog.item_texts[:2]), "no fan-out here"])
    assert scores[1] is None and isinstance(scores[0], float) and shared.parse_failure_rate == 0.5
    with pytest.raises(ValueError, match="unparsable must be"):
        trl_reward_functions(reward, grounder, unparsable="zero")


def test_pool_select_is_dpp_over_the_directions_hits(tiny_data):
    """served_dpp's grounding: with a huge alpha quality swamps diversity (top-k by cosine to the
    query from the pool); with alpha 0 no item repeats an earlier direction; short pools are filled."""
    import numpy as np

    from r4t.fanout.grounding import pool_select
    from r4t.retrievers.dpp import greedy_map

    q = tiny_data.query_emb[0]
    one = q[None]
    top = tiny_data.item_index.search(one, 5)[1][0].tolist()
    assert sorted(pool_select(tiny_data, q, one, 5, 200.0, 5)) == sorted(top)
    directions = tiny_data.item_emb[:4]
    picked = pool_select(tiny_data, q, directions, 10, 3.0, 6)
    assert len(picked) == len(set(picked)) == 6
    pool = set(tiny_data.item_index.search(directions, 10)[1].reshape(-1).tolist())
    assert set(picked) <= pool
    short = pool_select(tiny_data, q, one, 2, 3.0, 4)  # a 2-item pool is filled from the query's dense top-k
    assert len(short) == len(set(short)) == 4 and set(short) <= set(tiny_data.item_index.search(one, 6)[1][0].tolist())
    # alpha 0: plain DPP MAP on the cosine kernel of the pool, candidates ranked by relevance (ties)
    pool_ids = sorted(pool, key=lambda i: -float(tiny_data.item_emb[i] @ q))
    x = tiny_data.item_emb[pool_ids].astype(np.float64)
    expected = [pool_ids[i] for i in greedy_map(x @ x.T, 6)]
    assert len(expected) == 6 and set(pool_select(tiny_data, q, directions, 10, 0.0, 6)) == set(expected)
    grounder = FanoutGrounder(tiny_data, max_subqueries=10, served_k=5, pool=(10, 3.0))
    g = grounder.ground([format_subqueries(["smooth jazz piano", "rainy evening", "late night saxophone"])], ["rainy-day jazz"])[0]
    zq = grounder.encode(["rainy-day jazz"])[0]
    assert g.batch.item_ids == [pool_select(tiny_data, zq, grounder.encode(g.subqueries), 10, 3.0, 5)]
    with pytest.raises(DataError):
        FanoutGrounder(tiny_data, pool=(10, 3.0))  # pool needs served_k


def test_rows_dpp_served_grounding_is_the_set_fanout_lm_serves_with_rows_dpp(tiny_data, tiny_policy_dir, monkeypatch):
    """rl.grounding: rows_dpp with rl.anchor -- the reward reads exactly fanout_lm's rows_dpp set
    for the same anchored sub-queries (the set RL is trained on is the set that is served)."""
    import numpy as np

    from r4t.retrievers import retrievers
    from r4t.stage_configs import RLConfig

    subs = ["smooth jazz piano", "rainy evening", "late night saxophone"]
    query = tiny_data.catalog.queries_for(kind="open")[0].text
    grounder = FanoutGrounder(tiny_data, max_subqueries=10, served_k=10, anchor=0.5, rows_dpp=3.0)
    (g,) = grounder.ground([format_subqueries(subs)], [query])
    r = retrievers.build({"name": "fanout_lm", "policy": str(tiny_policy_dir), "anchor": 0.5, "grounding": "rows_dpp", "alpha": 3.0},
                         data=tiny_data)
    monkeypatch.setattr(r.policy, "sample", lambda texts, n, **kw: [[format_subqueries(subs)]])
    assert g.batch.item_ids == r.retrieve_indices_for([query], tiny_data.embedder.encode([query]), 10)
    nearest = FanoutGrounder(tiny_data, max_subqueries=10, served_k=10, anchor=0.5).ground([format_subqueries(subs)], [query])[0]
    assert len(set(g.batch.item_ids[0])) == 10 and g.batch.item_ids != nearest.batch.item_ids  # DPP spreads differently
    pool = set(tiny_data.item_index.search(tiny_data.embedder.encode([query]), 100)[1][0].tolist())
    assert set(g.batch.item_ids[0]) <= pool
    assert np.allclose(g.batch.item_emb[0].numpy(), tiny_data.item_emb[g.batch.item_ids[0]])
    with pytest.raises(DataError, match="rows_dpp"):
        FanoutGrounder(tiny_data, rows_dpp=3.0)  # needs served_k
    # the RL section: the new fields keep old caches and need reward_on: served
    assert "grounding" not in RLConfig().cache_key() and "anchor" not in RLConfig().cache_key()
    key = RLConfig(reward_on="served", anchor=0.5, grounding="rows_dpp", alpha=3.0).cache_key()
    assert (key["anchor"], key["grounding"], key["alpha"]) == (0.5, "rows_dpp", 3.0)
    with pytest.raises(ConfigError, match="reward_on: served"):
        RLConfig(grounding="rows_dpp")


def test_grounder_attaches_the_curated_collections_of_the_query_own_split_only(tiny_data):
    """curated_match reads the collections made for a query's theme; a training query never
    reads a held-out intent's collections, and a held-out query only its own split's."""
    from r4t.fanout.warmstart import theme_key

    cat = tiny_data.catalog
    grounder = FanoutGrounder(tiny_data, max_subqueries=10, served_k=5)
    for split in ("train", "val"):
        q = next(q for q in cat.queries_for(split, "open") if q.intent)
        expected = [i for c in cat.collections if c.split == split and c.theme and theme_key(c.theme) == theme_key(q.intent) for i in c.items]
        assert grounder.curated_items(q) == list(dict.fromkeys(expected))
        other = {i for c in cat.collections if c.split != split for i in c.items} - {i for c in cat.collections if c.split == split for i in c.items}
        assert not set(grounder.curated_items(q)) & other
        (g,) = grounder.ground([format_subqueries(["smooth jazz piano", "rainy evening"])], [q.text], [q.qid])
        if expected:
            assert g.batch.curated_emb is not None and g.batch.curated_emb.shape[1] == len(set(expected))
            out = build_reward({"components": {"curated_match": 1.0}})(g.batch)
            assert 0.0 <= float(out.total[0]) <= 1.0
    assert any(grounder.curated_items(q) for q in cat.queries_for("train", "open"))  # the tiny catalog has themed collections
