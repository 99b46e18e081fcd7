"""Clients for calling another service over HTTP, or over ASGI when it runs in this process."""

from __future__ import annotations

from typing import Any

import httpx

from parley.core import context

_local_apps: dict[str, Any] = {}


def register_local(name: str, app: Any) -> None:
    """Make ``app`` reachable as service ``name`` from this process (``parley up``)."""
    _local_apps[name] = app


def unregister_local(name: str) -> None:
    _local_apps.pop(name, None)


async def _add_request_id(request: httpx.Request) -> None:
    request_id = context.current_request_id()
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = request_id


def service_client(name: str, base_url: str | None, *, timeout: float = 5.0) -> httpx.AsyncClient:
    """An HTTP client for service ``name``: at ``base_url``, or in this process when it is None."""
    hooks: dict[str, list[Any]] = {"request": [_add_request_id]}
    if base_url:
        return httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            event_hooks=hooks,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
    if name not in _local_apps:
        raise RuntimeError(f"{name.upper()}_SERVICE is not set and the {name} service is not in this process")
    transport = httpx.ASGITransport(app=_local_apps[name])
    return httpx.AsyncClient(
        transport=transport, base_url=f"http://{name}", timeout=timeout, event_hooks=hooks
    )
