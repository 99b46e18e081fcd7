"""The web service: the built web app, and the one origin in front of the other services.

In ``parley up`` every service runs in this process and requests are handed to their ASGI apps
directly; in ``parley serve web`` requests (HTTP and WebSocket) are proxied to ``USER_SERVICE``,
``CHAT_SERVICE`` and ``MAIL_SERVICE``, each of which may list several instances separated by commas
(see :mod:`parley.web.proxy`). Either way a browser talks to one origin.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.core.app import BODY_LIMITS, BodyLimitMiddleware, Check, create_service_app, error_body
from parley.core.http import register_local, unregister_local
from parley.core.settings import SettingError, Settings
from parley.web.proxy import ROUTE_KEY, HttpProxy
from parley.web.static import StaticSite, find_web_dir

# Which service answers which paths. A prefix matches itself and anything below it.
ROUTES: dict[str, tuple[str, ...]] = {
    "user": (
        "/api/v1/login",
        "/api/v1/verify",
        "/api/v1/me",
        "/api/v1/update/user",
        "/api/v1/user",
        "/api/v1/logout",
        "/api/v1/sessions",
        "/.well-known",
    ),
    "chat": ("/api/v1/chat", "/api/v1/message", "/api/v1/search", "/socket.io", "/media", "/asyncapi.json"),
    "mail": ("/dev/mail",),
}
EMBEDDED_ORDER = ("user", "mail", "chat")


def route_for(path: str) -> tuple[str, str] | None:
    """The service that owns ``path`` and the prefix it matched, or None for the web app itself."""
    for service, prefixes in ROUTES.items():
        for prefix in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return service, prefix
    return None


def service_for(path: str) -> str | None:
    """The service that owns ``path``, or None for the web app itself."""
    found = route_for(path)
    return found[0] if found else None


def load_service_app(service: str, settings: Settings) -> FastAPI:
    module = importlib.import_module(f"parley.{service}.app")
    app: FastAPI = module.create_app(settings)
    return app


API_PREFIX = "/api/"


class Gateway:
    """Hands each request to the app of the service that owns its path.

    A path under ``/api/`` that no service owns is a JSON 404, like every other API error,
    never the web app's HTML page.
    """

    def __init__(self, web: FastAPI, upstreams: dict[str, ASGIApp]) -> None:
        self.web = web
        self.upstreams = upstreams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            found = route_for(scope["path"])
            if found is not None and found[0] in self.upstreams:
                scope[ROUTE_KEY] = found[1] + "/*"
                await self.upstreams[found[0]](scope, receive, send)
                return
            if scope["type"] == "http" and (scope["path"] + "/").startswith(API_PREFIX):
                await self.web(scope, receive, _api_not_found(scope, send))
                return
        await self.web(scope, receive, send)


def _api_not_found(scope: Scope, send: Send) -> Send:
    """Let the web app handle the request (its request id, logs and metrics), answering a JSON 404."""
    replaced = False

    async def send_json_404(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start":
            replaced = True
            response = JSONResponse(error_body("No such API endpoint", "not_found"), status_code=404)
            extra = [(k, v) for k, v in message.get("headers", []) if k.lower() == b"x-request-id"]
            response.raw_headers.extend(extra)
            await response(scope, _no_body, send)
            return
        if not replaced:
            await send(message)

    return send_json_404


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def create_app(settings: Settings, *, embedded: Sequence[str] = ()) -> Gateway:
    """The web service; ``embedded`` names the services to run in this process (``parley up``)."""
    services = {name: load_service_app(name, settings) for name in EMBEDDED_ORDER if name in embedded}
    proxies: dict[str, HttpProxy] = {}
    for name in ROUTES:
        url = getattr(settings.services, f"{name}_service")
        if name not in services and url:
            try:
                proxies[name] = HttpProxy(url, trust_forwarded_for=settings.limits.trust_forwarded_for)
            except ValueError as exc:
                raise SettingError(f"{name.upper()}_SERVICE", f"is invalid: {exc}") from None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for name, app in services.items():
            register_local(name, app)
        try:
            async with AsyncExitStack() as stack:
                for app in services.values():
                    await stack.enter_async_context(app.router.lifespan_context(app))
                for proxy in proxies.values():
                    stack.push_async_callback(proxy.close)
                yield
        finally:
            for name in services:
                unregister_local(name)

    def checks(_: Request) -> dict[str, Check]:
        found: dict[str, Check] = {}
        for name, app in services.items():
            for check, fn in getattr(app.state, "checks", {}).items():
                found[f"{name}.{check}"] = fn
        for name, proxy in proxies.items():
            found[name] = proxy.ready
        return found

    web = create_service_app(
        service="web",
        title="Parley",
        description="Real-time chat: one-time-code login, one-to-one and group chats, images, live delivery.",
        routers=[],
        lifespan=lifespan,
        checks=checks,
    )
    web.state.settings = settings
    # The web app's own files (scripts, styles, pages) go out compressed; the services' answers
    # do not pass through here.
    web.add_middleware(GZipMiddleware, minimum_size=1024)
    site = StaticSite(find_web_dir(settings.app.web_dir), public_url=settings.app.public_url)
    web.state.site = site

    @web.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def static(request: Request, path: str) -> Response:
        return site.response(request.url.path, request.method)

    def merged_openapi() -> dict[str, Any]:
        # One document for the whole system: every service's paths and schemas.
        if web.openapi_schema:
            return web.openapi_schema
        doc = get_openapi(
            title=web.title, version=web.version, description=web.description, routes=web.routes
        )
        for app in services.values():
            part = app.openapi()
            for path, item in part.get("paths", {}).items():
                if path not in ("/healthz", "/readyz", "/metrics"):
                    doc.setdefault("paths", {})[path] = item
            for kind, items in part.get("components", {}).items():
                doc.setdefault("components", {}).setdefault(kind, {}).update(items)
        web.openapi_schema = doc
        return doc

    web.openapi = merged_openapi  # type: ignore[method-assign]
    # A proxied service's own limit, applied here too, so an oversized body is not streamed to it.
    limited = {name: BodyLimitMiddleware(proxy, limit=BODY_LIMITS[name]) for name, proxy in proxies.items()}
    upstreams: dict[str, ASGIApp] = {**services, **limited}
    gateway = Gateway(web, upstreams)
    gateway.services = services  # type: ignore[attr-defined]
    return gateway
