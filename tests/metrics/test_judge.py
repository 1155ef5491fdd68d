import pytest

from r4t.catalog.catalog import Catalog, Query
from r4t.errors import DataError
from r4t.metrics.judge import AttributeJudge, JudgeScores, LLMJudge


@pytest.fixture
def catalog():
    genres = ["jazz", "jazz", "jazz", "rock", "jazz"]
    eras = ["60s", "70s", "60s", "60s", "60s"]
    return Catalog(
        name="t", domain="music", item_ids=[f"i{n}" for n in range(5)], item_texts=[f"track {n}" for n in range(5)],
        attributes={"genre": genres, "era": eras, "mood": ["calm"] * 5},
    )


QUERY = Query("q", "jazz through the decades", "test", "open", {"genre": ["jazz"]}, "era", ["60s", "70s", "80s"])


def test_alignment_and_diversity_known_values(catalog):
    j = AttributeJudge(catalog)
    s = j.score(QUERY, [0, 1, 3])
    assert s.alignment == pytest.approx(1 + 4 * 2 / 3)  # items 0 and 1 are jazz, item 3 is rock
    assert s.diversity == pytest.approx(1 + 4 * 2 / 3)  # covers 60s and 70s of min(3 readings, 3 items)
    assert s.groundedness is None  # no sub-queries
    same = j.score(QUERY, [0, 2])  # two items with identical profiles: one reading covered, half redundant
    assert same.diversity == pytest.approx(1 + 4 * (1 / 2) * (1 - 1 / 2))
    assert s.percent()["alignment"] == pytest.approx(20 * s.alignment)


def test_groundedness_known_values(catalog):
    j = AttributeJudge(catalog)
    s = j.score(QUERY, [0, 1], subqueries=["60s jazz", "something cosy"])
    # first sub-query mentions jazz and 60s, item 0 has both (1.0); the second names no attribute (0.0)
    assert s.groundedness == pytest.approx(1 + 4 * 0.5)
    with pytest.raises(DataError, match="one sub-query per item"):
        j.score(QUERY, [0, 1], subqueries=["60s jazz"])


def test_judge_needs_ground_truth(catalog):
    with pytest.raises(DataError, match="no ground-truth intent"):
        AttributeJudge(catalog).score(Query("r", "real data title", "test"), [0])


def test_llm_judge_prompt_and_parsing(catalog):
    seen = []
    judge = LLMJudge(catalog, generate=lambda p: seen.append(p) or "diversity: 4\nalignment: 5\ngroundedness: n/a")
    assert judge.score(QUERY, [0, 1]) == JudgeScores(alignment=5.0, diversity=4.0, groundedness=None)
    assert "jazz through the decades" in seen[0] and "1. track 0" in seen[0]
    assert LLMJudge.parse("Alignment = 3\ndiversity: 2.5\ngroundedness: 4") == JudgeScores(3.0, 2.5, 4.0)
    with pytest.raises(DataError, match="no alignment score"):
        LLMJudge.parse("diversity: 4")
    with pytest.raises(DataError, match="only groundedness may be"):  # n/a for a dimension that needs a score
        LLMJudge.parse("diversity: n/a\nalignment: 4")
