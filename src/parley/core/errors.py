"""Typed application errors, rendered once as ``{"message", "code"}`` with the right status.

Services raise subclasses of :class:`AppError`; the app factory maps them to HTTP and the
socket layer maps the same classes to its own refusals.
"""

from __future__ import annotations

from collections.abc import Mapping


class AppError(Exception):
    """An error a client caused or may see; carries its HTTP status and a stable code."""

    status: int = 400
    code: str = "bad_request"
    message: str = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(AppError):
    status, code, message = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status, code, message = 401, "unauthorized", "Please log in"


class Forbidden(AppError):
    status, code, message = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, code, message = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, message = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, message = 413, "too_large", "Too large"


class UnsupportedMediaType(AppError):
    status, code, message = 415, "unsupported_type", "Unsupported type"


class RateLimited(AppError):
    status, code, message = 429, "rate_limited", "Too many requests, try again later"

    def __init__(self, message: str | None = None, *, retry_after: int = 60) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


class ServiceUnavailable(AppError):
    status, code, message = 503, "unavailable", "Service unavailable"
