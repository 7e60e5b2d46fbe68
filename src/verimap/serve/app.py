"""The HTTP app behind ``verimap serve`` (and each Ray Serve replica): :func:`create_app`.

Routes (docs/serve.md has the request and response of each, with curl and client examples):

- ``POST /v1/rerank``, ``POST /v2/rerank``: Cohere's rerank API; ``POST /rerank``: text-embeddings-inference's.
  One core call, :meth:`verimap.Verifier.rank`, with the library's default policy (``fuse``, nothing dropped)
  unless the request passes verimap's own ``mode`` / ``threshold``: the results are those of ``rank`` on the same
  inputs, scores and order.
- ``POST /verify`` (:meth:`~verimap.Verifier.score_pairs`, verdicts by :func:`verimap.policy.verdict`) and
  ``POST /explain`` (:meth:`~verimap.Verifier.explain`, optional PNG heatmap).
- ``GET /health`` (200 once the model is loaded, 503 before), ``GET /info``, ``GET /metrics`` (Prometheus).
- ``GET /``: the playground, a page (``static/``) calling ``/info``, ``/v2/rerank`` and ``/explain`` from a browser.

Requests run in a worker thread (the event loop keeps answering ``/health`` and queueing requests while torch
computes), at most ``concurrency`` at a time: on a small CPU, torch's own threads already use every core, and
two forwards at once only contend for them.

Limits, checked before a request reaches its route: an API key (``Authorization: Bearer``, 401 otherwise; only
``/health`` and the page's files are open), a body limit (413), then, per route, JSON only and at most
``max_documents`` texts (422).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from verimap.optional import require

require("fastapi", install="'verimap[serve]'", who="verimap serve")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

from verimap import __version__  # noqa: E402
from verimap.policy import DEFAULT_MODE, Mode, check_mode, verdict  # noqa: E402
from verimap.serve import wire  # noqa: E402
from verimap.serve.metrics import Metrics  # noqa: E402

if TYPE_CHECKING:
    from verimap.verifier import Verifier

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_DOCUMENTS", "create_app"]

DEFAULT_MAX_DOCUMENTS = 1000  # Cohere's own cap per rerank request (cohere-haystack cuts lists to it, too)
DEFAULT_MAX_BODY_BYTES = 8 * 2**20  # 1,000 documents of a few thousand characters each, with room to spare
# The playground page (GET /, static/) holds no data: a browser loads it without the key, then sends the key itself.
PAGE = {"/": "index.html", "/static/playground.css": "playground.css", "/static/playground.js": "playground.js"}
PAGE_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript"}
PAGE_HEADERS = {  # the page's own files only: no inline script, no other origin, not framed
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
OPEN_PATHS = frozenset({"/health", *PAGE})  # what a load balancer probes without the key, and the page
DISCARD_LIMIT = 64 * 2**20  # a refused body is read up to this much more, so the client gets to read the refusal

logger = logging.getLogger("verimap.serve")
T = TypeVar("T")


class Model:
    """The verifier one worker serves: given ready, or built once by ``loader`` in a background thread started with
    the app, so ``/health`` answers "loading" meanwhile instead of the port being closed."""

    def __init__(self, verifier: Verifier | Callable[[], Verifier] | None) -> None:
        self.verifier: Verifier | None = None
        self.error: str | None = None
        if verifier is None:
            from verimap.shared import shared_verifier

            self.loader: Callable[[], Verifier] | None = shared_verifier
        elif callable(verifier):
            self.loader = verifier
        else:
            self.verifier, self.loader = verifier, None
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> str:
        return "ready" if self.verifier is not None else "failed" if self.error else "loading"

    def start(self) -> None:
        with self._started:
            if self.verifier is None and self._thread is None:
                self._thread = threading.Thread(target=self._load, name="verimap-load", daemon=True)
                self._thread.start()

    def _load(self) -> None:
        try:
            verifier = self.loader()  # type: ignore[misc]
        except Exception as exc:  # a bad weights file or encoder: reported by /health, not a dead worker
            logger.exception("verimap serve: the model failed to load")
            self.error = f"{type(exc).__name__}: {exc}"
        else:
            self.verifier = verifier
            logger.info("verimap serve: model loaded (%s)", verifier.card.sha256 or "weights without sha256")

    def get(self) -> Verifier:
        if self.verifier is not None:
            return self.verifier
        self.start()
        message = f"the model failed to load: {self.error}" if self.error else "the model is still loading"
        raise wire.RequestError(("model",), message, status=503, kind="unavailable", headers={"Retry-After": "5"})


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=headers)


def _error(exc: wire.RequestError) -> JSONResponse:
    return _json(exc.body(), exc.status, exc.headers)


class Gate:
    """ASGI middleware in front of every route: times and counts each request (``/metrics``), checks the API key,
    and reads the body up to the limit (413 past it) before the route sees it."""

    def __init__(self, app: Any, *, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = self._refuse(scope)
            body = b""
            if refusal is None and scope["method"] in ("POST", "PUT", "PATCH"):
                body, refusal = await self._read(scope, receive)
            elif refusal is not None:
                await self._discard(receive, 0)
            if refusal is not None:
                await _error(refusal)(scope, receive, send_status)
            else:
                await self.app(scope, _replay(body, receive), send_status)
        finally:
            self.service.metrics.observe(scope["path"], status[0], time.perf_counter() - start)

    def _refuse(self, scope: dict) -> wire.RequestError | None:
        key = self.service.api_key
        if key is None or scope["path"] in OPEN_PATHS:
            return None
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), key.encode()):
            return None
        return wire.RequestError(
            ("header", "authorization"),
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            status=401,
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def _read(self, scope: dict, receive: Callable) -> tuple[bytes, wire.RequestError | None]:
        limit = self.service.max_body_bytes
        too_large = wire.RequestError(
            ("body",), f"request body over the server's limit of {limit} bytes", status=413, kind="too_large"
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._discard(receive, 0)
            return b"", too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"", None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await self._discard(receive, size)
                return b"", too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    @staticmethod
    async def _discard(receive: Callable, read: int) -> None:
        """Read what is left of a refused body (up to :data:`DISCARD_LIMIT`): a client sends its whole body before
        it reads the answer, and the server stops listening once it has answered."""
        while read < DISCARD_LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                return
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def _replay(body: bytes, receive: Callable) -> Callable[[], Awaitable[dict]]:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then whatever comes next (a disconnect)

    return replay


class Service:
    """What the routes share: the model, the settings, the metrics and the bound on concurrent core calls."""

    def __init__(
        self,
        model: Model,
        *,
        api_key: str | None,
        max_documents: int,
        max_body_bytes: int,
        mode: Mode,
        model_name: str,
        concurrency: int,
        routes: Callable[[], set[str]],
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.max_documents = max_documents
        self.max_body_bytes = max_body_bytes
        self.mode = mode
        self.model_name = model_name
        self.slots = asyncio.Semaphore(concurrency)
        self.metrics = Metrics(routes, self._cache_stats, lambda: model.verifier is not None)

    def _cache_stats(self) -> dict | None:
        verifier = self.model.verifier
        cache = verifier.encoder.cache if verifier is not None else None
        return cache.stats() if cache is not None else None

    async def run(self, request: Request, count: int, call: Callable[[Verifier], T]) -> T:
        """``call(verifier)`` in a worker thread, after the model is ready and a slot is free."""
        verifier = self.model.get()
        async with self.slots:
            result = await run_in_threadpool(call, verifier)
        self.metrics.scored(request.url.path, count)
        return result


def _schema(model: type) -> dict:
    """The OpenAPI request body of a route that reads its JSON itself (so every error names its field)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def create_app(
    verifier: Verifier | Callable[[], Verifier] | None = None,
    *,
    api_key: str | None = None,
    max_documents: int = DEFAULT_MAX_DOCUMENTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    mode: Mode = DEFAULT_MODE,
    model_name: str = "verimap",
    concurrency: int = 1,
) -> FastAPI:
    """The rerank service as a FastAPI app (run it with uvicorn, mount it, or hand it to Ray Serve).

    :param verifier: the :class:`~verimap.Verifier` to serve; a function that builds one (called once, in a
        background thread when the app starts); ``None``: the shipped one (:func:`verimap.shared.shared_verifier`).
    :param api_key: when set, every route but ``/health`` needs ``Authorization: Bearer <api_key>`` (401 otherwise).
    :param max_documents: most documents (or pairs) per request (422 past it).
    :param max_body_bytes: largest request body (413 past it).
    :param mode: the policy mode of rerank requests that do not pass one (``fuse`` by default, as in the library).
    :param model_name: the ``model`` echoed to Cohere clients that send none.
    :param concurrency: core calls run at once (more requests wait their turn).
    """
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise ValueError("api_key must be a non-empty string, or None for no key")
    for name, value in (("max_documents", max_documents), ("max_body_bytes", max_body_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    model = Model(verifier)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model.start()
        yield

    app = FastAPI(
        title="verimap",
        version=__version__,
        summary="Rerank and verify: Cohere's and text-embeddings-inference's rerank APIs over verimap's verifier.",
        lifespan=lifespan,
    )
    service = Service(
        model,
        api_key=api_key,
        max_documents=max_documents,
        max_body_bytes=max_body_bytes,
        mode=check_mode(mode),
        model_name=model_name,
        concurrency=concurrency,
        routes=lambda: {r.path for r in app.routes},
    )
    app.state.service = service
    app.add_middleware(Gate, service=service)

    @app.exception_handler(wire.RequestError)
    async def refused(request: Request, exc: wire.RequestError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:  # 404, 405
        return _json({"message": str(exc.detail), "detail": exc.detail}, exc.status_code, exc.headers)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("verimap serve: %s %s failed", request.method, request.url.path)
        return _json({"message": f"internal error ({type(exc).__name__}); the server log has the traceback"}, 500)

    async def read(request: Request, model_type: type[wire.Model]) -> wire.Model:
        return wire.read_json(request.headers.get("content-type"), await request.body(), model_type)

    # -- rerank ---------------------------------------------------------------------------------------------
    async def cohere(request: Request, version: str) -> JSONResponse:
        body = await read(request, wire.CohereRerank)
        query = wire.checked_query(body.query)
        texts = wire.document_texts(body.documents, "documents", max_documents, rank_fields=body.rank_fields)
        ranking = await service.run(
            request,
            len(texts),
            lambda v: v.rank(query, texts, body.top_n, body.threshold, mode=body.mode or service.mode),
        )
        return _json(
            wire.cohere_response(
                ranking, body, texts, request_id=str(uuid.uuid4()), model=service.model_name, version=version
            )
        )

    @app.post("/v2/rerank", openapi_extra=_schema(wire.CohereRerank), tags=["rerank"])
    async def rerank_v2(request: Request) -> JSONResponse:
        """Cohere's rerank API, v2 (what ``cohere.ClientV2(base_url=...).rerank`` calls)."""
        return await cohere(request, "2")

    @app.post("/v1/rerank", openapi_extra=_schema(wire.CohereRerank), tags=["rerank"])
    async def rerank_v1(request: Request) -> JSONResponse:
        """Cohere's rerank API, v1 (``cohere.Client``; documents may be objects, ranked on ``rank_fields``)."""
        return await cohere(request, "1")

    @app.post("/rerank", openapi_extra=_schema(wire.TEIRerank), tags=["rerank"])
    async def rerank_tei(request: Request) -> JSONResponse:
        """text-embeddings-inference's rerank API: a JSON list of ``{index, score}``, best first."""
        body = await read(request, wire.TEIRerank)
        query = wire.checked_query(body.query)
        texts = wire.document_texts(body.texts, "texts", max_documents, objects=False)
        ranking = await service.run(
            request,
            len(texts),
            lambda v: v.rank(query, texts, threshold=body.threshold, mode=body.mode or service.mode),
        )
        return _json([wire.tei_item(r, texts, body.return_text) for r in ranking])

    # -- verify, explain ------------------------------------------------------------------------------------
    @app.post("/verify", openapi_extra=_schema(wire.VerifyRequest), tags=["verify"])
    async def verify(request: Request) -> JSONResponse:
        """Pairs → calibrated scores and verdicts, in order."""
        body = await read(request, wire.VerifyRequest)
        pairs = wire.pair_texts(body.pairs, max_documents)

        def call(v: Verifier) -> tuple[list[float], float]:
            return v.score_pairs(pairs, symmetric=body.symmetric), (
                v.threshold if body.threshold is None else body.threshold
            )

        scores, threshold = await service.run(request, len(pairs), call)
        return _json(
            {
                "threshold": threshold,
                "symmetric": body.symmetric,
                "results": [{"score": s, "accepted": verdict(s, threshold)} for s in scores],
            }
        )

    @app.post("/explain", openapi_extra=_schema(wire.ExplainRequest), tags=["verify"])
    async def explain(request: Request) -> JSONResponse:
        """One pair: each query token's best match, the unmatched tokens, the verdict (and a PNG heatmap)."""
        body = await read(request, wire.ExplainRequest)
        query = wire.checked_query(body.query)
        document = wire.checked_text(body.document, ("body", "document"))

        def call(v: Verifier) -> dict[str, Any]:
            ex = v.explain(query, document)
            out = {"query": query, "document": document, **ex.to_dict(), "text": ex.to_text()}
            if body.png:
                from verimap.heatmap import heatmap

                png = io.BytesIO()
                try:
                    heatmap(ex, query, document, png)
                except ImportError as exc:
                    raise wire.RequestError(("body", "png"), f"not available on this server: {exc}") from None
                out["png"] = base64.b64encode(png.getvalue()).decode("ascii")
            return out

        return _json(await service.run(request, 1, call))

    # -- the playground page (docs/serve.md#playground): static files, calling the routes above -------------------
    def page(path: str, name: str) -> None:
        content = resources.files("verimap.serve").joinpath("static", name).read_bytes()
        media = PAGE_TYPES[os.path.splitext(name)[1]]

        @app.get(path, include_in_schema=False, name=f"page:{name}")
        async def file() -> Response:
            return Response(content, media_type=media, headers=PAGE_HEADERS)

    for path, name in PAGE.items():
        page(path, name)

    # -- state ----------------------------------------------------------------------------------------------
    @app.get("/health", tags=["service"])
    async def health() -> JSONResponse:
        """200 ``{"status": "ready"}`` once the model is loaded; 503 while loading or after a failed load."""
        status = model.status
        out = {"status": status, "version": __version__}
        if model.error:
            out["error"] = model.error
        return _json(out, 200 if status == "ready" else 503)

    @app.get("/info", tags=["service"])
    async def info() -> JSONResponse:
        """The encoder, a summary of the weights card, the threshold, the limits and the version."""
        v = model.get()
        card = v.card
        return _json(
            {
                "version": __version__,
                "pid": os.getpid(),  # which worker or replica answered
                "model": model_name,
                "encoder": {"id": v.encoder.encoder_id, "max_length": v.encoder.max_length, "dim": v.encoder.dim},
                "weights": {
                    "sha256": card.sha256,
                    "encoder": card.encoder,
                    "parser": card.parser,
                    "network": card.network.to_dict(),
                    "calibration": card.calibration,
                    "threshold": card.threshold,
                    "fuse_weight": card.fuse_weight,
                    "symmetric": card.symmetric,
                    "adapter": card.adapter is not None,
                    "license": card.extra.get("license"),
                    "dev_auc": (card.extra.get("metrics") or {}).get("dev_auc"),
                },
                "threshold": v.threshold,
                "mode": service.mode,
                "limits": {
                    "max_documents": max_documents,
                    "max_body_bytes": max_body_bytes,
                    "concurrency": concurrency,
                    "max_length_tokens": v.encoder.max_length,
                },
                "auth": api_key is not None,
                "token_cache": service._cache_stats(),
            }
        )

    @app.get("/metrics", tags=["service"])
    async def metrics() -> Response:
        """Prometheus text format: requests, latency histogram, documents scored, token cache hit ratio."""
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    return app
