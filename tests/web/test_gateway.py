"""The gateway's routing table and the static site it serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.web.gateway import service_for
from parley.web.static import StaticSite


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/login", "user"),
        ("/api/v1/me", "user"),
        ("/api/v1/message/abc", "chat"),
        ("/api/v1/messages", None),
        ("/api/v1/user/all", "user"),
        ("/api/v1/users", None),
        ("/api/v1/update/user", "user"),
        ("/api/v1/chat/all", "chat"),
        ("/socket.io/", "chat"),
        ("/media/abc.jpg", "chat"),
        ("/dev/mail", "mail"),
        ("/dev/mail/messages", "mail"),
        ("/.well-known/jwks.json", "user"),
        ("/", None),
        ("/chats", None),
    ],
)
def test_paths_go_to_their_service(path: str, service: str | None) -> None:
    assert service_for(path) == service


@pytest.fixture
def site(tmp_path: Path) -> StaticSite:
    (tmp_path / "index.html").write_text("home")
    (tmp_path / "login.html").write_text("login")
    (tmp_path / "404.html").write_text("missing")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("docs")
    (tmp_path / "_next" / "static").mkdir(parents=True)
    (tmp_path / "_next" / "static" / "app.js").write_text("js")
    (tmp_path.parent / "secret.txt").write_text("secret")
    return StaticSite(tmp_path)


def body(response: object) -> str:
    path = response.path  # type: ignore[attr-defined]
    return Path(path).read_text()


def test_static_site_resolves_pages(site: StaticSite) -> None:
    assert body(site.response("/", "GET")) == "home"
    assert body(site.response("/login", "GET")) == "login"
    assert body(site.response("/docs", "GET")) == "docs"
    r = site.response("/_next/static/app.js", "GET")
    assert "immutable" in r.headers["cache-control"]


def test_static_site_refuses_escapes_and_unknowns(site: StaticSite) -> None:
    for path in ("/../secret.txt", "/nope", "/docs/../../secret.txt"):
        r = site.response(path, "GET")
        assert r.status_code == 404
        assert body(r) == "missing"
    assert site.response("/", "POST").status_code == 405


def test_unbuilt_site_says_how_to_build() -> None:
    r = StaticSite(None).response("/", "GET")
    assert r.status_code == 200
    assert b"make web" in r.body  # type: ignore[operator]
