"""The app factory: every service gets health, readiness, metrics, JSON errors and request ids."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.core import context
from parley.core.errors import AppError
from parley.core.metrics import HTTP_REQUESTS

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[Any]]


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

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", error=type(exc).__name__)
        return JSONResponse(error_body("Internal server error", "internal"), status_code=500)


def allow_browser_origin(app: FastAPI, origin: str) -> None:
    """Let a web app on ``origin`` (``PUBLIC_URL``) call this service from another origin.

    Only needed in split deployments; API clients send ``Authorization``, the web app its CSRF header.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[origin],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-CSRF-Token"],
        expose_headers=["X-Next-Cursor", "Retry-After", "X-Request-ID"],
        max_age=600,
    )


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


def ops_router(checks: Callable[[Request], dict[str, Check]]) -> APIRouter:
    """``/healthz``, ``/readyz`` and ``/metrics``."""
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Every backend this service uses answers", responses={503: {}})
    async def readyz(request: Request) -> JSONResponse:
        results = await run_checks(checks(request))
        ready = all(v == "ok" for v in results.values())
        failed = [k for k, v in results.items() if v != "ok"]
        body = {"status": "ok" if ready else "unavailable", "checks": results}
        if not ready:
            body["message"] = "Not ready: " + ", ".join(failed)
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
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
) -> FastAPI:
    """A FastAPI app for one service with everything every service shares."""
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(ops_router(checks))
    for router in routers:
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, service=service)
    return app
