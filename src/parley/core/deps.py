"""Dependencies every service shares: the caller's identity and address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.core.auth import CSRF_HEADER, Identity, Tokens, request_token


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool, a hop per request.
async def get_tokens(request: Request) -> Tokens:
    return _tokens(request)


async def current_identity(request: Request) -> Identity:
    """The caller, from a verified, unrevoked token; 401 otherwise.

    The token comes from ``Authorization: Bearer`` (API clients) or the browser's session cookie;
    a cookie-authenticated write without the matching CSRF header is 403.
    """
    token = request_token(
        authorization=request.headers.get("authorization"),
        cookies=request.cookies,
        method=request.method,
        csrf_header=request.headers.get(CSRF_HEADER),
    )
    return await _tokens(request).verify(token)


async def client_ip(request: Request) -> str:
    """The client's address; the first ``X-Forwarded-For`` hop only when a trusted proxy is in front."""
    if getattr(request.app.state, "trust_forwarded_for", False):
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


CurrentIdentity = Annotated[Identity, Depends(current_identity)]
ClientIP = Annotated[str, Depends(client_ip)]
