"""Dependencies every service shares: the caller's identity and address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.core.auth import Identity, Tokens, bearer_token


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool, a hop per request.
async def get_tokens(request: Request) -> Tokens:
    return _tokens(request)


async def current_identity(request: Request) -> Identity:
    """The caller, from a verified, unrevoked bearer token; 401 otherwise."""
    token = bearer_token(request.headers.get("authorization"))
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
