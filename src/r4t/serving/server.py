"""``r4t serve``: an exported retriever behind LitServe, with dynamic batching.

Concurrent ``POST /predict`` requests that arrive within ``batch_timeout`` of each other
(up to ``max_batch_size`` of them) are merged into one ``retrieve`` call per distinct ``k``:
the encoder, the denoiser and faiss then see one batch instead of many single queries, which
is where set retrieval gets its throughput. Requests are checked one by one before they are
batched (``r4t.serving.requests``), so a bad request never fails its neighbours.

The artifact is loaded and fully verified once in the launching process before any worker
starts, so a bad or mismatched artifact fails ``r4t serve`` in one line; each worker then
loads its own copy in ``setup``.
"""

# No `from __future__ import annotations` here: LitServe reads decode_request's annotation
# at run time to choose how FastAPI parses the request.
from typing import Any, List, Optional

from r4t.errors import ConfigError
from r4t.serving.requests import PredictRequestValidator

try:
    import litserve as ls
except ImportError:  # pragma: no cover - exercised only without the extra
    ls = None


def _require_litserve() -> None:
    if ls is None:
        raise ConfigError('r4t serve needs LitServe: pip install "r4t[serve]" (or pip install litserve)')


def group_by_k(requests: List[dict], default_k: int) -> dict:
    """``{k: [(request index, query index, text), ...]}``: one retrieve() call per distinct k."""
    groups: dict = {}
    for r, request in enumerate(requests):
        k = request.get("k") or default_k
        for q, text in enumerate(request["queries"]):
            groups.setdefault(k, []).append((r, q, text))
    return groups


def answer_batch(exported: Any, requests: List[dict]) -> List[List[list]]:
    """Per request, per query, the item records: each distinct k is one batched call."""
    out: List[List[Optional[list]]] = [[None] * len(r["queries"]) for r in requests]
    for k, members in group_by_k(requests, exported.default_k).items():
        sets = exported.retrieve_items([text for _, _, text in members], k)
        for (r, q, _), items in zip(members, sets):
            out[r][q] = items
    return out  # type: ignore[return-value]


if ls is not None:

    class SetRetrievalAPI(ls.LitAPI):
        """``{"query": str | [str], "k": int?}`` -> ``{"items": [{"id", "text", "score"}]}`` (or ``{"results": [...]}``)."""

        def __init__(self, artifact: str, device: str = "cpu", max_batch_size: int = 16, batch_timeout: float = 0.005) -> None:
            super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
            self.artifact, self.device_name = artifact, device

        def setup(self, device: str) -> None:
            from r4t.serving.artifact import load_retriever

            # verified by serve() before the workers started; a worker only rebuilds it
            self.exported = load_retriever(self.artifact, device=self.device_name, verify=False)
            self.exported.retrieve_items(["warm-up"], 1)  # first-call costs (thread pools, packed weights) off the first request

        def decode_request(self, request: dict) -> dict:
            query = request["query"]  # already checked by PredictRequestValidator
            return {"queries": query if isinstance(query, list) else [query], "single": not isinstance(query, list),
                    "k": request.get("k")}

        def batch(self, inputs: List[dict]) -> List[dict]:
            return list(inputs)

        def predict(self, requests: List[dict]) -> List[dict]:
            answers = answer_batch(self.exported, requests)
            return [{**r, "answers": a} for r, a in zip(requests, answers)]

        def unbatch(self, outputs: List[dict]) -> List[dict]:
            return list(outputs)

        def encode_response(self, output: dict) -> dict:
            k = output["k"] or self.exported.default_k
            if output["single"]:
                return {"query": output["queries"][0], "k": k, "items": output["answers"][0]}
            return {"k": k, "results": [{"query": q, "items": a} for q, a in zip(output["queries"], output["answers"])]}


def build_server(artifact: str, max_batch_size: int = 16, batch_timeout: float = 0.005, workers: int = 1,
                 max_request_queries: int = 64, device: str = "cpu", timeout: float = 30.0) -> Any:
    """A LitServer for ``artifact`` (verified here, in this process, before any worker starts)."""
    _require_litserve()
    for name, value, low in (("--max_batch_size", max_batch_size, 1), ("--workers", workers, 1), ("--max_request_queries", max_request_queries, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if not batch_timeout >= 0:
        raise ConfigError(f"--batch_timeout must be >= 0 seconds, got {batch_timeout!r}")
    if not timeout > 0:
        raise ConfigError(f"--timeout must be > 0 seconds, got {timeout!r}")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"--device must be cpu or cuda, got {device!r}")
    from r4t.serving.artifact import load_retriever

    exported = load_retriever(artifact, device=device)  # every check, one line on failure
    catalog_size = len(exported.data.catalog)
    del exported
    api = SetRetrievalAPI(str(artifact), device=device, max_batch_size=max_batch_size, batch_timeout=batch_timeout)
    return ls.LitServer(api, accelerator="cuda" if device.startswith("cuda") else "cpu", devices=1, workers_per_device=workers,
                        timeout=timeout, middlewares=[(PredictRequestValidator, {"catalog_size": catalog_size, "max_request_queries": max_request_queries})])


def serve(artifact: str, host: str = "127.0.0.1", port: int = 8000, max_batch_size: int = 16, batch_timeout: float = 0.005,
          workers: int = 1, max_request_queries: int = 64, device: str = "cpu", timeout: float = 30.0) -> int:
    """Run until interrupted; returns the exit code."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, got {port!r}")
    server = build_server(artifact, max_batch_size, batch_timeout, workers, max_request_queries, device, timeout)
    print(f"[r4t serve] {artifact} on http://{host}:{port}/predict (max batch {max_batch_size}, batch timeout {batch_timeout}s, "
          f"{workers} worker(s))", flush=True)
    server.run(host=host, port=port, num_api_servers=1, generate_client_file=False, log_level="warning")
    return 0


def parse_serve_args(argv: List[str]) -> Any:
    """``argv`` parsed as `r4t serve ARGV` is; a bad value is a ConfigError naming the flag."""
    from r4t.cli_parser import parse

    return parse(["serve", *argv])[1]


def main(argv: Optional[List[str]] = None) -> int:
    """The server process ``r4t serve`` supervises: one-line errors, exit code 2."""
    import sys

    from r4t.errors import R4TError

    try:
        args = parse_serve_args(sys.argv[1:] if argv is None else argv)
        return serve(args.artifact, host=args.host, port=args.port, max_batch_size=args.max_batch_size,
                     batch_timeout=args.batch_timeout, workers=args.workers, max_request_queries=args.max_request_queries, device=args.device,
                     timeout=args.timeout)
    except R4TError as exc:
        print(f"r4t serve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    import sys

    sys.exit(main())
