"""The headers that protect the web app's pages: CSP with the hashes of their inline scripts, and friends."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from parley.core.settings import Settings
from parley.web.gateway import create_app
from parley.web.static import StaticSite

BOOT = "(self.__next_f=self.__next_f||[]).push([0])"
PAYLOAD = 'self.__next_f.push([1,"1:\\"$Sreact.fragment\\"\\n<b>&amp;</b>"])'
PAGE = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>
<script src="/_next/static/chunks/app.js" async=""></script>
<script id="_R_">{BOOT}</script></head>
<body><p>Log in</p><script>{PAYLOAD}</script>
<script type="text/plain">{BOOT}</script></body></html>"""


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in found, f"{name} given twice"
        found[name] = values
    return found


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "404.html").write_text("<!DOCTYPE html><p>Not here</p><script>window.x=1</script>")
    (tmp_path / "_next" / "static" / "chunks").mkdir(parents=True)
    (tmp_path / "_next" / "static" / "chunks" / "app.js").write_text("console.log(1)")
    return tmp_path


@pytest.fixture
async def client(web_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(env_file=False, web_dir=web_dir, public_url="https://chat.example/"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as c:
        yield c


def assert_protected(response: httpx.Response) -> dict[str, list[str]]:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    policy = directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    # The API and Socket.IO (same host, ws: or wss:): this origin. The signed /media links name
    # PUBLIC_URL, which is this origin unless the site is reached under another name.
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "https://chat.example", "blob:", "data:"]
    for values in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "'unsafe-hashes'"} & set(values)
    return policy


async def test_a_page_allows_exactly_its_own_inline_scripts(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    policy = assert_protected(response)
    # Each inline script by its hash, in the order of the page; the external one by 'self'; the
    # text/plain block is not run, but listing its (equal) hash once does no harm.
    assert policy["script-src"] == ["'self'", sha256(BOOT), sha256(PAYLOAD)]
    assert policy["style-src"] == ["'self'"]
    head = await client.head("/")
    assert head.headers["content-security-policy"] == response.headers["content-security-policy"]


async def test_every_answer_of_the_site_carries_the_headers(web_dir: Path, client: httpx.AsyncClient) -> None:
    script = await client.get("/_next/static/chunks/app.js")
    assert script.status_code == 200
    assert assert_protected(script)["script-src"] == ["'self'"]
    missing = await client.get("/nowhere")
    assert missing.status_code == 404
    assert assert_protected(missing)["script-src"] == ["'self'", sha256("window.x=1")]
    refused = StaticSite(web_dir).response("/login", "POST")
    assert refused.status_code == 405
    assert refused.headers["x-frame-options"] == "DENY"
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_a_rebuilt_page_gets_the_hashes_of_its_new_scripts(
    web_dir: Path, client: httpx.AsyncClient
) -> None:
    before = directives((await client.get("/")).headers["content-security-policy"])["script-src"]
    assert sha256(BOOT) in before
    page = web_dir / "index.html"
    page.write_text("<!DOCTYPE html><script>\r\nrebuilt()\r\n</script><style>p{color:red}</style>")
    stat = page.stat()
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    policy = directives((await client.get("/")).headers["content-security-policy"])
    # The browser hashes the text after turning CR LF into LF.
    assert policy["script-src"] == ["'self'", sha256("\nrebuilt()\n")]
    assert policy["style-src"] == ["'self'", sha256("p{color:red}")]


def test_the_not_built_page_allows_its_own_style() -> None:
    response = StaticSite(None).response("/", "GET")
    policy = directives(response.headers["content-security-policy"])
    body = bytes(response.body).decode()
    style = re.search(r"<style>(.*?)</style>", body, re.S)
    assert style
    assert policy["style-src"] == ["'self'", sha256(style.group(1))]
    assert policy["script-src"] == ["'self'"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_site_is_sent_compressed_and_hashed_assets_are_cached_for_good(
    web_dir: Path, client: httpx.AsyncClient
) -> None:
    script = "console.log('Parley');\n" * 200
    (web_dir / "_next" / "static" / "chunks" / "big.js").write_text(script)
    response = await client.get("/_next/static/chunks/big.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == script  # httpx decodes it
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    page = await client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["cache-control"] == "no-cache"
    plain = await client.get("/_next/static/chunks/big.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
