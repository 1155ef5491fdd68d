"""What POST /predict accepts: known good and bad bodies, each bad one naming its field."""

import json

import pytest

from r4t.serving.requests import RequestProblem, check_predict_body
from r4t.serving.server import answer_batch, group_by_k


def check(payload, catalog_size=100, max_request_queries=4):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return check_predict_body(body, catalog_size, max_request_queries)


@pytest.mark.parametrize("payload", [{"query": "rainy-day jazz"}, {"query": "x", "k": 1}, {"query": "x", "k": 100},
                                     {"query": ["a", "b", "c", "d"], "k": 7}, {"query": "ünïcode ☂", "k": None}])
def test_valid_bodies_pass_unchanged(payload):
    assert check(payload) == payload


@pytest.mark.parametrize("payload, status, field", [
    (b"{\"query\": \"x\"", 400, "body"),
    (b"\xff\xfe", 400, "body"),
    ([1, 2], 422, "body"),
    ({}, 422, "query"),
    ({"query": ""}, 422, "query"),
    ({"query": "   "}, 422, "query"),
    ({"query": 3}, 422, "query"),
    ({"query": None}, 422, "query"),
    ({"query": []}, 422, "query"),
    ({"query": ["a", 2]}, 422, "query[1]"),
    ({"query": ["a", ""]}, 422, "query[1]"),
    ({"query": ["a"] * 5}, 422, "query"),
    ({"query": "x", "k": 0}, 422, "k"),
    ({"query": "x", "k": 101}, 422, "k"),
    ({"query": "x", "k": "ten"}, 422, "k"),
    ({"query": "x", "k": 2.5}, 422, "k"),
    ({"query": "x", "k": True}, 422, "k"),
    ({"query": "x", "top_k": 3}, 422, "top_k"),
])
def test_bad_bodies_name_the_field(payload, status, field):
    with pytest.raises(RequestProblem) as info:
        check(payload)
    assert (info.value.status, info.value.field) == (status, field)
    assert info.value.body() == {"error": info.value.message, "field": field}


class CountingRetriever:
    """Stands in for an ExportedRetriever: records every batched call."""

    default_k = 3

    def __init__(self):
        self.calls = []

    def retrieve_items(self, texts, k):
        self.calls.append((list(texts), k))
        return [[{"id": f"{t}-{i}"} for i in range(k)] for t in texts]


def test_one_retrieve_call_per_distinct_k_and_answers_go_back_in_order():
    requests = [{"queries": ["a"], "k": None}, {"queries": ["b", "c"], "k": 2}, {"queries": ["d"], "k": 3}, {"queries": ["e"], "k": 2}]
    assert sorted(group_by_k(requests, 3)) == [2, 3]
    fake = CountingRetriever()
    answers = answer_batch(fake, requests)
    assert sorted(fake.calls, key=lambda c: c[1]) == [(["b", "c", "e"], 2), (["a", "d"], 3)]  # default k joins k=3
    assert [[len(items) for items in r] for r in answers] == [[3], [2, 2], [3], [2]]
    assert answers[1][1][0]["id"] == "c-0" and answers[3][0][0]["id"] == "e-0"
