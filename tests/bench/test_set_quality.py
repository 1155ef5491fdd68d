import numpy as np
import pytest

from r4t.bench.set_quality import SetEvaluator, dense_recall_at, format_table
from r4t.retrievers import retrievers


def test_evaluator_reports_every_score_and_diversifiers_win_diversity(tiny_data):
    ev = SetEvaluator(tiny_data)
    open_q = tiny_data.catalog.queries_for(kind="open")[:12]
    top = ev.evaluate(retrievers.build("dense_topk", data=tiny_data), open_q, 10, "dense_topk")
    dpp = ev.evaluate(retrievers.build({"name": "dpp", "alpha": 2.0}, data=tiny_data), open_q, 10, "dpp")
    for key in ("vendi_diversity", "alignment", "coverage", "complementarity", "coherence", "judge_alignment",
                "judge_diversity", "intra_list_diversity", "distinct_items_ratio"):
        assert key in top.values
    assert 20 <= top.values["judge_alignment"] <= 100
    assert dpp.values["vendi_diversity"] > top.values["vendi_diversity"]
    assert dpp.values["alignment"] < top.values["alignment"]  # diversity costs some alignment
    table = format_table([top, dpp], ["vendi_diversity", "alignment"])
    assert table.splitlines()[0] == "| retriever | vendi_diversity | alignment |"
    assert table.count("**") == 4  # one best cell per column


def test_compositional_recall(tiny_data):
    ev = SetEvaluator(tiny_data)
    comp = tiny_data.catalog.queries_for(kind="compositional")[:8]
    rep = ev.evaluate(retrievers.build("dense_topk", data=tiny_data), comp, 10, "dense_topk")
    assert 0.0 <= rep.values["recall@10"] <= rep.values["hit@10"] <= 1.0
    deep = dense_recall_at(tiny_data, comp, 500)
    assert deep["recall@500"] >= rep.values["recall@10"]  # more candidates never lower recall


def test_reward_terms_and_per_query_scores(tiny_data):
    reward = {"components": {"groundedness": 0.6, "vendi_diversity": 0.2, "alignment": 0.2}}
    ev = SetEvaluator(tiny_data, reward=reward)
    open_q = tiny_data.catalog.queries_for(kind="open")[:6]
    rep = ev.evaluate(retrievers.build("dense_topk", data=tiny_data), open_q, 10, "dense_topk")
    g, v, a, c = (rep.per_query[f"reward/{n}"] for n in ("groundedness", "vendi_diversity", "alignment", "composite"))
    assert g.shape == (6,) and len(rep.sets) == 6
    np.testing.assert_allclose(g, 1.0, atol=1e-5)  # catalog items are on the catalog manifold
    np.testing.assert_allclose(c, 0.6 * g + 0.2 * v + 0.2 * a, atol=1e-5)
    assert rep.values["reward/composite"] == pytest.approx(float(c.mean()))
    np.testing.assert_allclose(rep.per_query["vendi_diversity"], v, atol=1e-6)


def test_wscr_protocol_budget_and_runs(tiny_data):
    from r4t.bench.set_quality import wscr_scores

    ev = SetEvaluator(tiny_data)
    comp = tiny_data.catalog.queries_for(kind="compositional")[:6]
    dense = retrievers.build("dense_topk", data=tiny_data)
    out = wscr_scores(ev, dense, comp, 10, budget=200, runs=3)
    # one direction gets the whole budget: the same as dense top-200
    assert out["wscr_recall"].mean() == pytest.approx(dense_recall_at(tiny_data, comp, 200)["recall@200"])
    assert (out["wscr_hit"] >= (out["wscr_recall"] > 0)).all()
    np.testing.assert_allclose(out["vendi_across_3_runs"], 0.0, atol=1e-5)  # deterministic: no diversity across runs


def test_wscr_budget_scales_with_the_catalog():
    from r4t.bench.set_quality import wscr_budget
    from r4t.errors import ConfigError

    assert wscr_budget(142_472, 500, 10) == 5000        # the paper's catalog: the paper's 500 x 10
    assert wscr_budget(1_000_000, 500, 10) == 5000      # larger catalogs keep the paper's depth
    assert wscr_budget(24_000, 500, 10) == 842          # 3.5% of the catalog, not 21% of it
    assert wscr_budget(1_700, 500, 10) == 59            # a real ~1,700-item catalog is no longer reached whole
    with pytest.raises(ConfigError, match="fewer than k=10"):
        wscr_budget(200, 500, 10)


def test_intent_clusters_group_paraphrases(tiny_data):
    from r4t.bench.set_quality import intent_cluster
    from r4t.catalog.catalog import Query

    qs = tiny_data.catalog.queries_for(kind="open")
    by_intent: dict[str, set[str]] = {}
    for q in qs:
        by_intent.setdefault(intent_cluster(q), set()).add(repr(sorted(q.intent.items())))
    assert all(len(v) == 1 for v in by_intent.values())          # one cluster, one intent
    assert len(by_intent) < len(qs)                             # paraphrases share a cluster
    assert intent_cluster(Query("a", "Chill  Vibes", "test")) == intent_cluster(Query("b", "chill vibes", "val"))
