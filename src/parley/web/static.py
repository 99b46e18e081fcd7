"""Serving the statically exported web app (``web/out``)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

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


def find_web_dir(configured: Path | None) -> Path | None:
    """The built web app: the configured folder, else ``web/out`` beside the source tree or here."""
    candidates = [configured] if configured else []
    candidates += [Path(parley.__file__).resolve().parents[2] / "web" / "out", Path.cwd() / "web" / "out"]
    for candidate in candidates:
        if candidate and (candidate / "index.html").is_file():
            return candidate.resolve()
    return None


class StaticSite:
    """``/x`` is served from ``x.html``, ``x/index.html`` or the file ``x``; anything else is 404.html."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

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

    def response(self, path: str, method: str) -> Response:
        if self.root is None:
            status = 200 if path in ("", "/") else 404
            return HTMLResponse(NOT_BUILT, status_code=status)
        if method not in ("GET", "HEAD"):
            return Response(status_code=405, headers={"Allow": "GET, HEAD"})
        found = self._resolve(path)
        if found is None:
            missing = self.root / "404.html"
            if missing.is_file():
                return FileResponse(missing, status_code=404, media_type="text/html")
            return HTMLResponse("Not found", status_code=404)
        # Next.js puts content hashes in /_next/static names: those may be cached for good.
        immutable = "/_next/static/" in path
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return FileResponse(found, media_type=media_type, headers={"Cache-Control": cache})
