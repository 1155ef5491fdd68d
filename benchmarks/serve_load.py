"""Load test of `r4t serve` over real HTTP on the loopback interface, per exported retriever.

    python benchmarks/serve_load.py -c configs/music.yaml \
        --artifacts runs/artifacts/music-r4t_diffusion runs/artifacts/music-dense_topk ... \
        --out benchmarks/results/serve_load_music.md

For each artifact it starts ``r4t serve`` on a free port of 127.0.0.1 (nothing else is ever
contacted), waits for ``/health``, and at each concurrency C runs C client threads, each with
one keep-alive connection, sending ``{"query": q}`` (one validation query per request, in
turn) until ``--requests`` answers or ``--seconds`` have passed. It records per-request
latency (P50/P95/P99, from send to parsed answer) and completed queries per second, after a
short warm-up that is not counted. Every answer is checked: status 200 and k distinct ids.

The same artifact is then timed offline in this process (``ExportedRetriever.retrieve_items``
at batch 1 and at the server's max batch size, the same queries), so the table shows what
dynamic batching buys over serving one query per call and what HTTP costs on top.
"Saturation" is the lowest concurrency whose throughput is within 10% of the best measured;
its P99 is the tail a user pays at full load. Client and server share this machine's cores,
which is reported with the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from r4t.bench.hardware import describe_hardware


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Level:
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0

    @property
    def qps(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3) if self.latencies else float("nan")


def start_server(artifact: str, port: int, max_batch: int, batch_timeout: float, workers: int) -> subprocess.Popen:
    exe = str(Path(sys.executable).with_name("r4t"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([exe, "serve", artifact, "--host", "127.0.0.1", "--port", str(port), "--max-batch-size", str(max_batch),
                             "--batch-timeout", str(batch_timeout), "--workers", str(workers), "--timeout", "120"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"r4t serve {artifact} exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit(f"r4t serve {artifact} was not healthy within 300 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def run_level(port: int, queries: list[str], concurrency: int, requests: int, seconds: float, k: int) -> Level:
    level = Level(concurrency)
    lock = threading.Lock()
    counter = iter(range(10**9))
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter)
            if n >= requests:
                return
            body = json.dumps({"query": queries[n % len(queries)], "k": k})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = json.loads(response.read())
                ok = response.status == 200 and len({i["id"] for i in answer["items"]}) == k
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - t0
            with lock:
                if ok:
                    level.latencies.append(elapsed)
                else:
                    level.errors += 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    level.wall_s = time.perf_counter() - t0
    return level


def offline_qps(artifact: str, queries: list[str], batch: int, k: int, seconds: float) -> float:
    """Queries/s of ``retrieve_items`` in this process at one batch size (after one warm-up call)."""
    from r4t.serving.artifact import load_retriever

    exported = load_retriever(artifact, verify=False)
    exported.retrieve_items(queries[:batch], k)
    done, n, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or done < 3 * batch:
        chunk = [queries[(n + i) % len(queries)] for i in range(batch)]
        exported.retrieve_items(chunk, k)
        exported.retriever.clear_caches()
        done, n = done + batch, n + batch
    return done / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", required=True, help="config whose validation queries are sent")
    parser.add_argument("--artifacts", nargs="+", required=True, help="folders written by `r4t export`")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--requests", type=int, default=400, help="answers per concurrency level (at most)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time per concurrency level (at most)")
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--max_batch_size", "--max-batch-size", type=int, default=16)
    parser.add_argument("--batch_timeout", "--batch-timeout", type=float, default=0.005)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--offline_seconds", "--offline-seconds", type=float, default=5.0)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--out", help="write the Markdown table here (default: print only)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    from r4t.config import load_config
    from r4t.data.prepare import DataConfig, prepare_data

    data = prepare_data(DataConfig.from_mapping(load_config(args.config)), quiet=True)
    queries = [q.text for q in data.catalog.queries_for(split="val")]
    del data
    rows, summary = [], []
    for artifact in args.artifacts:
        name = json.loads((Path(artifact) / "r4t_retriever.json").read_text())["retriever"]["name"]
        port = free_port()
        t0 = time.perf_counter()
        proc = start_server(artifact, port, args.max_batch_size, args.batch_timeout, args.workers)
        startup = time.perf_counter() - t0
        try:
            run_level(port, queries, min(8, args.warmup), args.warmup, 60, args.k)  # warm-up, not counted
            measured = []
            for c in levels:
                level = run_level(port, queries, c, args.requests, args.seconds, args.k)
                measured.append(level)
                print(f"{name:<14} C={c:<3} {len(level.latencies):4d} ok {level.errors} errors  {level.qps:7.1f} q/s  "
                      f"p50 {level.pct(50):7.1f}  p95 {level.pct(95):7.1f}  p99 {level.pct(99):7.1f} ms", flush=True)
        finally:
            stop_server(proc)
        off1 = offline_qps(artifact, queries, 1, args.k, args.offline_seconds)
        offb = offline_qps(artifact, queries, args.max_batch_size, args.k, args.offline_seconds)
        best = max(level.qps for level in measured)
        sat = next(level for level in measured if level.qps >= 0.9 * best)
        for level in measured:
            rows.append(f"| {name} | {level.concurrency} | {len(level.latencies)} | {level.errors} | {level.qps:.1f} | {level.pct(50):.1f} | "
                        f"{level.pct(95):.1f} | {level.pct(99):.1f} |")
        summary.append(f"| {name} | {startup:.0f} | {off1:.1f} | {offb:.1f} | {best:.1f} | {best / off1:.2f}x | {sat.concurrency} | "
                       f"{sat.pct(99):.1f} |")
    header = [f"# `r4t serve` load test: {Path(args.config).stem}", "",
              f"Machine: {describe_hardware()} (client threads and server share these cores).",
              f"Server: LitServe, 1 HTTP process, {args.workers} model worker(s), max batch {args.max_batch_size}, "
              f"batch timeout {args.batch_timeout * 1e3:.0f} ms; k = {args.k}; one validation query per request; up to "
              f"{args.requests} answers or {args.seconds:.0f} s per level after {args.warmup} warm-up requests.",
              f"Command: `python benchmarks/serve_load.py {' '.join(sys.argv[1:])}`", "",
              "| retriever | concurrency | answers | errors | queries/s | P50 ms | P95 ms | P99 ms |", "|---|---|---|---|---|---|---|---|",
              *rows, "",
              "Dynamic batching against offline `retrieve_items` in one process (same queries): offline batch 1 is serving one "
              "query per call; the server's best throughput over it is what batching (minus HTTP) buys. Saturation: the lowest "
              "concurrency within 10% of the best throughput.", "",
              f"| retriever | startup s | offline q/s, batch 1 | offline q/s, batch {args.max_batch_size} | server best q/s | "
              "server best / offline batch 1 | saturates at C | P99 there, ms |", "|---|---|---|---|---|---|---|---|", *summary, ""]
    text = "\n".join(header)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
