"""Serving the statically exported web app (``web/out``), with the headers that protect its pages."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from starlette.responses import FileResponse, HTMLResponse, Response

import parley

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Parley</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code{background:#8882;padding:.1em .3em;border-radius:4px}</style></head><body>
<h1>Parley is running</h1>
<p>The API answers under <code>/api/v1</code>, and login codes appear at <a href="/dev/mail">/dev/mail</a>.</p>
<p>The web app is not built yet. Build it with <code>make web</code>
(or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and restart.</p>
</body></html>"""

# Sent with every file of the site. Framing is refused twice: X-Frame-Options for old browsers,
# frame-ancestors (in the policy) for the rest.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def public_origin(public_url: str | None) -> str | None:
    """The origin (scheme, host, port) of ``PUBLIC_URL``, or None when it has none."""
    if not public_url:
        return None
    parts = urlsplit(public_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(
    script_hashes: Sequence[str] = (), style_hashes: Sequence[str] = (), *, media_origin: str | None = None
) -> str:
    """The policy of a page whose inline scripts and styles have the given ``sha256-...`` hashes.

    Scripts run only from this origin or when their hash is listed: no ``unsafe-inline``, no
    ``unsafe-eval``. The API and Socket.IO (``'self'`` covers the same host's ``ws:``/``wss:``) are
    on this origin; the signed ``/media`` image links name ``PUBLIC_URL`` (``media_origin``), which
    is this origin unless the site is reached under another name; ``blob:`` images are the
    composer's previews of a picture before it is sent.
    """
    scripts = " ".join(["'self'", *(f"'{h}'" for h in script_hashes)])
    styles = " ".join(["'self'", *(f"'{h}'" for h in style_hashes)])
    images = " ".join(["'self'", *([media_origin] if media_origin else []), "blob:", "data:"])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            f"style-src {styles}",
            f"img-src {images}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class _InlineCode(HTMLParser):
    """Collects the text of inline ``<script>`` and ``<style>`` elements, as the browser hashes it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._tag: str | None = None
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        external = tag == "script" and any(name == "src" for name, _ in attrs)
        self._tag = tag if tag in ("script", "style") and not external else None
        self._parts = []

    def handle_data(self, data: str) -> None:
        if self._tag is not None:
            self._parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._tag is not None and tag == self._tag:
            (self.scripts if tag == "script" else self.styles).append("".join(self._parts))
        self._tag = None


def _sha256(text: str) -> str:
    # The browser hashes the element's text after the HTML parser turned CR LF and CR into LF.
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    return "sha256-" + base64.b64encode(hashlib.sha256(normalized.encode("utf-8")).digest()).decode()


def page_policy(html: str, *, media_origin: str | None = None) -> str:
    """The Content-Security-Policy for one HTML document: its own inline code, and nothing else inline."""
    parser = _InlineCode()
    parser.feed(html)
    parser.close()
    scripts = list(dict.fromkeys(_sha256(s) for s in parser.scripts))
    styles = list(dict.fromkeys(_sha256(s) for s in parser.styles))
    return content_security_policy(scripts, styles, media_origin=media_origin)


def find_web_dir(configured: Path | None) -> Path | None:
    """The built web app: the configured folder, else ``web/out`` beside the source tree or here."""
    candidates = [configured] if configured else []
    candidates += [Path(parley.__file__).resolve().parents[2] / "web" / "out", Path.cwd() / "web" / "out"]
    for candidate in candidates:
        if candidate and (candidate / "index.html").is_file():
            return candidate.resolve()
    return None


class StaticSite:
    """``/x`` is served from ``x.html``, ``x/index.html`` or the file ``x``; anything else is 404.html.

    Every answer carries :data:`SECURITY_HEADERS` and a Content-Security-Policy; an HTML page's
    policy lists the hashes of its own inline scripts, computed once per version of the file.
    """

    def __init__(self, root: Path | None, *, public_url: str | None = None) -> None:
        self.root = root
        self.media_origin = public_origin(public_url)
        # path -> (mtime_ns, size, policy): a rebuilt file gets its policy computed again.
        self._policies: dict[Path, tuple[int, int, str]] = {}

    def _resolve(self, path: str) -> Path | None:
        assert self.root is not None
        rel = path.lstrip("/")
        if ".." in rel.split("/") or "\x00" in rel:
            return None
        base = self.root / rel
        for candidate in (base.with_name(base.name + ".html") if rel else None, base / "index.html", base):
            if candidate is not None and candidate.is_file():
                resolved = candidate.resolve()
                if resolved.is_relative_to(self.root):
                    return resolved
        return None

    def policy_for(self, file: Path) -> str:
        """The policy for ``file``: hashed inline code for HTML, the plain policy for anything else."""
        if file.suffix != ".html":
            return content_security_policy(media_origin=self.media_origin)
        stat = file.stat()
        cached = self._policies.get(file)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        policy = page_policy(
            file.read_text(encoding="utf-8", errors="replace"), media_origin=self.media_origin
        )
        self._policies[file] = (stat.st_mtime_ns, stat.st_size, policy)
        return policy

    def _file(self, file: Path, *, status: int = 200, cache: str | None = None) -> Response:
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": self.policy_for(file)}
        if cache:
            headers["Cache-Control"] = cache
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return FileResponse(file, status_code=status, media_type=media_type, headers=headers)

    def response(self, path: str, method: str) -> Response:
        if self.root is None:
            status = 200 if path in ("", "/") else 404
            headers = {**SECURITY_HEADERS, "Content-Security-Policy": NOT_BUILT_POLICY}
            return HTMLResponse(NOT_BUILT, status_code=status, headers=headers)
        if method not in ("GET", "HEAD"):
            return Response(status_code=405, headers={"Allow": "GET, HEAD", **SECURITY_HEADERS})
        found = self._resolve(path)
        if found is None:
            missing = self.root / "404.html"
            if missing.is_file():
                return self._file(missing, status=404)
            headers = {
                **SECURITY_HEADERS,
                "Content-Security-Policy": content_security_policy(media_origin=self.media_origin),
            }
            return HTMLResponse("Not found", status_code=404, headers=headers)
        # Next.js puts content hashes in /_next/static names: those may be cached for good.
        immutable = "/_next/static/" in path
        return self._file(found, cache="public, max-age=31536000, immutable" if immutable else "no-cache")


NOT_BUILT_POLICY = page_policy(NOT_BUILT)
