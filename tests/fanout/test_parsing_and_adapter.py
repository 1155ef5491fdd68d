import pytest

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
