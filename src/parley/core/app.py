"""The app factory: every service gets health, readiness, metrics, JSON errors and request ids."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.core import context
from parley.core.errors import AppError
from parley.core.metrics import HTTP_REQUESTS

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[Any]]

# The largest request body each service reads (bytes); the chat service narrows it per route.
BODY_LIMITS = {"user": 64 * 1024, "chat": 6 * 1024 * 1024, "mail": 64 * 1024, "web": 64 * 1024}
DEFAULT_BODY_LIMIT = 64 * 1024
# Routes that take more than their service's limit: ``(method, path)`` → bytes.
ROUTE_BODY_LIMITS = {("POST", "/api/v1/user/avatar"): 6 * 1024 * 1024}
# The paths that tell an operator about the system, not meant for the public (see ops_router).
OPS_PATHS = ("/healthz", "/readyz", "/metrics")


def operation_id(route: APIRoute) -> str:
    """``{tag}-{name}``, so a typed client can be generated from the OpenAPI document."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def error_body(message: str, code: str) -> dict[str, str]:
    return {"message": message, "code": code}


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "Invalid request"
    err = errors[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header"))
    msg = str(err.get("msg", "is invalid"))
    if err.get("type") == "json_invalid":
        return "The request body is not valid JSON"
    return f"{where}: {msg}" if where else msg


# SQLSTATE classes of a database that cannot serve now: connection exceptions (08), insufficient
# resources such as too many connections (53), operator intervention, which includes a statement
# cancelled by statement_timeout (57); and lock_not_available (55P03).
UNAVAILABLE_SQLSTATES = ("08", "53", "57", "55P03")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error: the driver's own (asyncpg), or the one SQLAlchemy wraps."""
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Every error, including 404, 405 and 422, answers ``{"message", "code"}``."""

    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.code), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "too_large"}
        return JSONResponse(
            error_body(message, codes.get(exc.status_code, "http_error")),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(_validation_message(exc), "invalid"), status_code=422)

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.TimeoutError)
    @app.exception_handler(TimeoutError)
    @app.exception_handler(redis_exc.ConnectionError)
    @app.exception_handler(redis_exc.TimeoutError)
    @app.exception_handler(ConnectionError)
    async def backend_down(_: Request, exc: Exception) -> JSONResponse:
        # A database, cache or broker that does not answer is an outage, not a bug: 503, retry later.
        log.error("http.backend_unavailable", error=type(exc).__name__)
        return JSONResponse(
            error_body("A backend service is unavailable, try again shortly", "unavailable"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(sa_exc.DBAPIError)
    async def database_error(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        # A statement cancelled by DATABASE_STATEMENT_TIMEOUT (or a lock wait it bounded), or a
        # database out of connections, is an overloaded or stuck database: 503, retry later.
        # Anything else is a bug.
        if (sqlstate(exc) or "-").startswith(UNAVAILABLE_SQLSTATES):
            log.error("http.database_timeout", sqlstate=sqlstate(exc))
            return JSONResponse(
                error_body("The database did not answer in time, try again shortly", "unavailable"),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", error=type(exc).__name__)
        return JSONResponse(error_body("Internal server error", "internal"), status_code=500)


def allow_browser_origin(app: FastAPI, origins: str | Sequence[str]) -> None:
    """Let web apps on ``origins`` (``CORS_ORIGINS``, else ``PUBLIC_URL``) call this service.

    Only needed when a web app is served from another origin than the API; API clients send
    ``Authorization``, the web app its CSRF header.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[origins] if isinstance(origins, str) else list(origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-CSRF-Token"],
        expose_headers=["X-Next-Cursor", "Retry-After", "X-Request-ID"],
        max_age=600,
    )


def too_large_message(limit: int) -> str:
    size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"The request body is too large (at most {size})"


def body_too_large(limit: int, message: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(message or too_large_message(limit), "too_large"), 413)


class BodyTooLarge(StarletteHTTPException):
    """Raised from the receive channel once a streamed body passes its limit; rendered as a 413."""

    def __init__(self, limit: int, message: str | None = None) -> None:
        super().__init__(status_code=413, detail=message or too_large_message(limit))
        self.limit = limit
        self.message = message


class BodyLimitMiddleware:
    """Refuses a request body over ``limit`` bytes before it is read into memory.

    A declared ``Content-Length`` over the limit is answered 413 at once; a body without one
    (chunked) is counted as it arrives and refused as soon as it passes the limit.
    ``routes`` names the routes with a limit of their own (default :data:`ROUTE_BODY_LIMITS`);
    ``messages`` what a 413 says on some of them (default: the size).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int = DEFAULT_BODY_LIMIT,
        routes: Mapping[tuple[str, str], int] | None = None,
        messages: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.routes = ROUTE_BODY_LIMITS if routes is None else routes
        self.messages = messages or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = (scope["method"], scope["path"].rstrip("/"))
        limit = self.routes.get(route, self.limit)
        refusal = self.messages.get(route)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            if declared.isdigit():
                await body_too_large(limit, refusal)(scope, receive, send)
            else:
                response = JSONResponse(error_body("Invalid Content-Length", "invalid"), 400)
                await response(scope, receive, send)
            return
        received = 0
        responded = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, refusal)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            # Raised inside a route's body parsing, or by code that reads the stream itself.
            if responded:
                raise
            await body_too_large(exc.limit, exc.message)(scope, receive, send)


class RelativeRedirects:
    """Redirects point to a path, never to a host taken from the ``Host`` header.

    Starlette builds an absolute ``Location`` from the request's ``Host``: it would echo whatever
    a client sends, and behind a proxy reveal the service's internal address.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        host = Headers(scope=scope).get("host", "").lower()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                headers = MutableHeaders(scope=message)
                location = headers.get("location")
                # Only a URL built from this request's Host; a redirect elsewhere is meant so.
                if location and urlsplit(location).netloc.lower() in ("", host):
                    headers["location"] = local_location(location)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def local_location(location: str) -> str:
    """``location`` as a path on this site: scheme and host dropped, never ``//host`` (protocol-relative)."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/\\")
    return path + (f"?{parts.query}" if parts.query else "")


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def loopback_aliases(origin: str) -> list[str]:
    """``http://localhost:3000`` is also ``http://127.0.0.1:3000`` and ``http://[::1]:3000``."""
    parts = urlsplit(origin)
    if parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        return []
    port = f":{parts.port}" if parts.port else ""
    return [f"{parts.scheme}://{name}{port}" for name in LOOPBACK_NAMES]


def is_local_client(scope: Scope) -> bool:
    """The request comes from this machine: its peer and every ``X-Forwarded-For`` hop are loopback."""
    client = scope.get("client")
    hops = [client[0] if client else ""]
    for value in Headers(scope=scope).getlist("x-forwarded-for"):
        hops.extend(hop.strip() for hop in value.split(","))
    for hop in hops:
        try:
            if not ipaddress.ip_address(hop.strip("[]")).is_loopback:
                return False
        except ValueError:
            return False
    return True


class RequestContextMiddleware:
    """Gives each request an id (from ``X-Request-ID`` or new), logs it and times it by route."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        status = 500
        responded = False
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with context.bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception as exc:
                if responded:
                    raise
                # Answered here, inside CORS, so the browser can read it, and with the request id.
                log.exception("http.unhandled", error=type(exc).__name__)
                await JSONResponse(error_body("Internal server error", "internal"), status_code=500)(
                    scope, receive, send_wrapper
                )
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                HTTP_REQUESTS.labels(self.service, scope["method"], template, str(status)).observe(elapsed)
                if template not in ("/healthz", "/readyz", "/metrics"):
                    log.info(
                        "http.request",
                        method=scope["method"],
                        route=template,
                        status=status,
                        ms=round(elapsed * 1000, 1),
                    )


async def run_checks(checks: dict[str, Check], timeout: float = 3.0) -> dict[str, str]:
    """Run readiness checks at once; ``{"name": "ok" | "error text"}``."""

    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), timeout)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:200] or "failed"
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(one(checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


def metrics_allowed(request: Request, *, edge: bool) -> bool:
    """Who may read ``/metrics``: the bearer of ``METRICS_TOKEN`` when one is set; else anyone
    reaching an internal service, and only local clients at the edge (the web service)."""
    settings = getattr(request.app.state, "settings", None)
    token = settings.app.metrics_token if settings is not None else None
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    return not edge or is_local_client(request.scope)


def ops_router(checks: Callable[[Request], dict[str, Check]], *, edge: bool = False) -> APIRouter:
    """``/healthz``, ``/readyz`` and ``/metrics``.

    ``/readyz`` names a failing backend but keeps its error text for the logs; ``/metrics`` is
    guarded as :func:`metrics_allowed` says. ``edge``: this service faces the public.
    """
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Every backend this service uses answers", responses={503: {}})
    async def readyz(request: Request) -> JSONResponse:
        results = await run_checks(checks(request))
        ready = all(v == "ok" for v in results.values())
        failed = [k for k, v in results.items() if v != "ok"]
        body: dict[str, Any] = {
            "status": "ok" if ready else "unavailable",
            "checks": {k: "ok" if v == "ok" else "failed" for k, v in results.items()},
        }
        if not ready:
            body["message"] = "Not ready: " + ", ".join(failed)
            log.warning("readyz.failed", checks={k: results[k] for k in failed})
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get(
        "/metrics", summary="Prometheus metrics", response_class=PlainTextResponse, responses={404: {}}
    )
    async def metrics(request: Request) -> Response:
        if not metrics_allowed(request, edge=edge):
            # Not found rather than forbidden: the public need not learn that it exists.
            return JSONResponse(error_body("Not Found", "not_found"), status_code=404)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def state_checks(request: Request) -> dict[str, Check]:
    """The readiness checks a service's lifespan put on ``app.state.checks``."""
    return dict(getattr(request.app.state, "checks", {}))


def create_service_app(
    *,
    service: str,
    title: str,
    routers: Sequence[APIRouter],
    lifespan: Any,
    description: str = "",
    checks: Callable[[Request], dict[str, Check]] = state_checks,
    body_limit: int | None = None,
    body_routes: Mapping[tuple[str, str], int] | None = None,
    body_messages: Mapping[tuple[str, str], str] | None = None,
) -> FastAPI:
    """A FastAPI app for one service with everything every service shares.

    ``body_limit``: the largest request body it reads (default :data:`BODY_LIMITS` of ``service``);
    ``body_routes`` and ``body_messages``: routes with a limit (and a 413 text) of their own.
    The ``web`` service is the edge: its ``/metrics`` is not for the public.
    """
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(ops_router(checks, edge=service == "web"))
    for router in routers:
        app.include_router(router)
    limit = body_limit if body_limit is not None else BODY_LIMITS.get(service, DEFAULT_BODY_LIMIT)
    routes = {**ROUTE_BODY_LIMITS, **(body_routes or {})}
    app.add_middleware(BodyLimitMiddleware, limit=limit, routes=routes, messages=body_messages)
    app.add_middleware(RelativeRedirects)
    app.add_middleware(RequestContextMiddleware, service=service)
    return app
