"""The browser's session cookies, set by a login or rename and cleared by a logout.

``parley_session`` holds the token (HttpOnly: page scripts never see it); ``parley_csrf`` is a
random value the web app copies into ``X-CSRF-Token`` on writes (readable on purpose). Both are
``SameSite=Strict``, for the whole site, and ``Secure`` when the site is served over HTTPS.
"""

from __future__ import annotations

from fastapi import Request, Response

from parley.core.auth import CSRF_COOKIE, SESSION_COOKIE, new_csrf_value


def served_securely(request: Request, public_url: str) -> bool:
    """Whether the browser reaches us over HTTPS (the public URL says so, or this request came so)."""
    return public_url.startswith("https://") or request.url.scheme == "https"


def set_session_cookies(
    response: Response, request: Request, token: str, *, max_age: int, public_url: str
) -> None:
    """Give the browser ``token`` as its session, with a fresh CSRF value.

    Never one the request brought along: a value planted by someone else would be known to them.
    """
    secure = served_securely(request, public_url)
    csrf = new_csrf_value()
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict"
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, path="/", secure=secure, httponly=False, samesite="strict"
    )


def clear_session_cookies(response: Response, request: Request, *, public_url: str) -> None:
    """Make the browser forget its session."""
    secure = served_securely(request, public_url)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="strict")
