"""What ``POST /predict`` accepts, checked in the HTTP process before anything reaches a model worker.

LitServe decodes requests inside the batched worker loop, where one request's exception
fails every request batched with it. So the checks run first, per request, in an ASGI
middleware: a bad request gets its own 4xx JSON error naming the field, and only valid
requests are ever batched. The middleware also reads the body as JSON whatever its
Content-Type (``curl -d`` sends form encoding), so the README's curl line works as written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

ALLOWED_KEYS = ("query", "k")


@dataclass
class RequestProblem(Exception):
    """A client error: HTTP status, the field at fault and what is wrong with it."""

    status: int
    field: str
    message: str

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field}


def check_predict_body(body: bytes, catalog_size: int, max_request_queries: int) -> dict[str, Any]:
    """``{"query": str | [str, ...], "k": int?}`` as parsed JSON, or a ``RequestProblem``."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise RequestProblem(400, "body", f"malformed JSON{where}: send {{\"query\": \"...\", \"k\": 10}}") from None
    if not isinstance(payload, dict):
        raise RequestProblem(422, "body", f"expected a JSON object, got {type(payload).__name__}")
    unknown = sorted(set(payload) - set(ALLOWED_KEYS))
    if unknown:
        raise RequestProblem(422, unknown[0], f"unknown field {unknown[0]!r}; a request takes {list(ALLOWED_KEYS)}")
    if "query" not in payload:
        raise RequestProblem(422, "query", "missing: give a query text or a list of them")
    query = payload["query"]
    if isinstance(query, list):
        if not query:
            raise RequestProblem(422, "query", "an empty list; give at least one query text")
        if len(query) > max_request_queries:
            raise RequestProblem(422, "query", f"lists {len(query)} queries; this server takes at most {max_request_queries} per request")
        for n, text in enumerate(query):
            _check_text(text, f"query[{n}]")
    else:
        _check_text(query, "query")
    k = payload.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
        raise RequestProblem(422, "k", f"must be an integer, got {json.dumps(k)}")
    if k is not None and not 1 <= k <= catalog_size:
        raise RequestProblem(422, "k", f"must be between 1 and the catalog size {catalog_size}, got {k}")
    return payload


def _check_text(text: Any, field: str) -> None:
    if not isinstance(text, str):
        raise RequestProblem(422, field, f"must be a string, got {type(text).__name__}")
    if not text.strip():
        raise RequestProblem(422, field, "empty; give a query text")


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class PredictRequestValidator:
    """ASGI middleware: check ``POST path`` bodies with ``check_predict_body``; pass the rest through."""

    def __init__(self, app: Any, catalog_size: int, max_request_queries: int, path: str = "/predict",
                 max_body_bytes: int = 1 << 20) -> None:
        self.app, self.catalog_size, self.max_request_queries = app, catalog_size, max_request_queries
        self.path, self.max_body_bytes = path, max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _send_json(send, 413, {"error": f"request body over {self.max_body_bytes} bytes", "field": "body"})
                return
        try:
            check_predict_body(body, self.catalog_size, self.max_request_queries)
        except RequestProblem as problem:
            await _send_json(send, problem.status, problem.body())
            return
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app({**scope, "headers": headers}, replay, send)


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    payload = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
