"""Request body limits enforced before a body is parsed, so no upload is read whole into memory.

A declared ``Content-Length`` over the limit is refused at once; a body without one (chunked) is
counted as it arrives and refused as soon as it passes the limit.
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.core.app import error_body
from parley.core.media.images import MAX_IMAGE_BYTES

# Room for the multipart framing and the other fields (4000 characters of text, a clientId …).
FORM_ALLOWANCE = 64 * 1024
MESSAGE_BODY_LIMIT = MAX_IMAGE_BYTES + FORM_ALLOWANCE
DEFAULT_BODY_LIMIT = 256 * 1024


def _describe(limit: int) -> str:
    if limit >= MAX_IMAGE_BYTES:
        return "The request is too large: images can be at most 5 MB"
    return f"The request body is too large (at most {limit // 1024} KB)"


class BodyTooLarge(HTTPException):
    """Raised from the receive channel once a body passes its limit; rendered as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_describe(limit))


class BodyLimitMiddleware:
    """Limits the bodies of requests under ``prefix``: ``limits[(method, path)]`` or ``default``."""

    def __init__(
        self, app: ASGIApp, *, default: int, limits: dict[tuple[str, str], int], prefix: str = "/api/"
    ) -> None:
        self.app = app
        self.default = default
        self.limits = limits
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get((scope["method"], scope["path"].rstrip("/")), self.default)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse(error_body(_describe(limit), "too_large"), status_code=413)
            await response(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
