"""`r4t serve` as a user runs it: a real server on a free loopback port, queried concurrently over HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("litserve")

from r4t.retrievers import retrievers  # noqa: E402
from r4t.serving.artifact import export_retriever  # noqa: E402

R4T = str(Path(sys.executable).with_name("r4t"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body, timeout=30):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def descendants(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in out.split()]
    return kids + [d for k in kids for d in descendants(k)]


def alive(pid):
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def kill_all(proc):
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def server(tiny_data, tmp_path_factory):
    artifact = export_retriever(tiny_data, {"name": "mmr", "lambda_": 0.5}, tmp_path_factory.mktemp("serve") / "mmr")
    port = free_port()
    proc = subprocess.Popen([R4T, "serve", str(artifact), "--port", str(port), "--max-batch-size", "8", "--batch-timeout", "0.01",
                             "--max-queries", "4"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.read() == b"ok":
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
        if proc.poll() is not None:
            pytest.fail(f"r4t serve exited with {proc.returncode}: {proc.stdout.read().decode()[-2000:]}")
    else:
        kill_all(proc)
        pytest.fail("r4t serve was not healthy within 120 s")
    yield port, proc
    kill_all(proc)


def test_concurrent_queries_get_the_in_process_sets(server, tiny_data):
    port, _ = server
    texts = [q.text for q in tiny_data.catalog.queries[:24]]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda t: post(port, {"query": t}), texts))
    expected = retrievers.build({"name": "mmr", "lambda_": 0.5}, data=tiny_data).retrieve(texts, 10)
    for text, (status, body), ids in zip(texts, answers, expected):
        assert status == 200 and body["query"] == text and body["k"] == 10
        assert [item["id"] for item in body["items"]] == ids  # batched with others, still this query's set
        assert len({item["id"] for item in body["items"]}) == 10


def test_a_list_of_queries_and_a_k_per_request(server, tiny_data):
    port, _ = server
    texts = [q.text for q in tiny_data.catalog.queries[:3]]
    status, body = post(port, {"query": texts, "k": 4})
    assert status == 200 and [r["query"] for r in body["results"]] == texts
    assert all(len({i["id"] for i in r["items"]}) == 4 for r in body["results"])


@pytest.mark.parametrize("body, status, field", [
    (b"{\"query\": ", 400, "body"),
    ({"query": ""}, 422, "query"),
    ({"query": 42}, 422, "query"),
    ({"query": "jazz", "k": 0}, 422, "k"),
    ({"query": "jazz", "k": 10**6}, 422, "k"),
    ({"query": ["a", "b", "c", "d", "e"]}, 422, "query"),
])
def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_stays_up(server, body, status, field):
    port, proc = server
    got_status, got = post(port, body)
    assert (got_status, got["field"]) == (status, field) and got["error"]
    assert post(port, {"query": "rainy-day jazz", "k": 2})[0] == 200 and proc.poll() is None


def test_form_encoded_json_from_curl_is_read_as_json(server):
    port, _ = server
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=b'{"query": "rainy-day jazz"}', method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # what `curl -d` sends
    with urllib.request.urlopen(request, timeout=30) as response:
        assert len({i["id"] for i in json.loads(response.read())["items"]}) == 10


def test_ctrl_c_shuts_down_every_process_without_tracebacks(server):
    port, proc = server
    kids = descendants(proc.pid)
    assert len(kids) >= 3  # the server, its HTTP process and its model worker
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the terminal signals the foreground process group
    assert proc.wait(timeout=30) == 0
    time.sleep(1)
    assert not [k for k in kids if alive(k)]
    assert "Traceback" not in proc.stdout.read().decode()


def test_a_damaged_artifact_fails_startup_in_one_line(tiny_data, tmp_path):
    artifact = export_retriever(tiny_data, "dense_topk", tmp_path / "art")
    (artifact / "items.jsonl").write_text("")
    proc = subprocess.run([R4T, "serve", str(artifact), "--port", str(free_port())], env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not match its checksum" in proc.stderr
