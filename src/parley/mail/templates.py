"""HTML for mails and for the dev mailbox page: escaped, small, inline-styled, no external assets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from parley.mail.schemas import MailboxEntry

_FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_LINK_STYLE = "color:#4f46e5;word-break:break-all"
_CODE_STYLE = (
    "display:inline-block;font-size:32px;font-weight:700;letter-spacing:6px;"
    "font-family:Menlo,Consolas,'Courier New',monospace;padding:4px 12px;margin:4px 0;"
    "background:#eef2ff;color:#1e1b4b;border-radius:6px"
)


def _highlight_code(escaped: str, code: str | None) -> str:
    # Only the code the mail says it carries (digits, unchanged by escaping) is shown large; other
    # numbers, such as those in a quoted chat message, stay as they are.
    if not code:
        return escaped
    standalone = re.compile(rf"(?<![0-9]){re.escape(code)}(?![0-9])")
    return standalone.sub(f'<span style="{_CODE_STYLE}">{code}</span>', escaped)


def _linked(escaped: str, links: Sequence[str]) -> str:
    # Only the links the publisher named become clickable; a link inside quoted text stays text.
    for link in links:
        target = escape(link)
        escaped = escaped.replace(target, f'<a href="{target}" style="{_LINK_STYLE}">{target}</a>')
    return escaped


def _paragraphs(text: str, code: str | None, links: Sequence[str]) -> str:
    blocks = [b for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if b.strip()]

    return "\n".join(
        '<p style="margin:0 0 16px;font-size:16px;line-height:1.5">'
        + "<br>".join(_linked(_highlight_code(escape(line), code), links) for line in block.split("\n"))
        + "</p>"
        for block in blocks
    )


def mail_html(subject: str, body: str, code: str | None = None, *, links: Sequence[str] = ()) -> str:
    """The HTML part of a mail: the text body, escaped, with its login ``code`` (if any) shown large
    and each of ``links`` clickable where the body shows it."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(subject)}</title>
</head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:{_FONT};color:#1f2328">
<div style="max-width:480px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px">
<p style="margin:0 0 16px;font-size:13px;font-weight:600;color:#6366f1">Parley</p>
{_paragraphs(body, code, links)}
</div>
</body>
</html>
"""


_PAGE_STYLE = f"""
body{{margin:0;padding:24px;background:#f4f5f7;font-family:{_FONT};color:#1f2328}}
main{{max-width:720px;margin:0 auto}}
h1{{font-size:20px;margin:0 0 4px}}
.hint{{color:#6a737d;font-size:14px;margin:0 0 20px}}
article{{background:#fff;border-radius:8px;padding:16px 20px;margin:0 0 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}}
.meta{{display:flex;justify-content:space-between;gap:12px;font-size:13px;color:#6a737d}}
.subject{{font-weight:600;font-size:16px;margin:6px 0}}
.code{{{_CODE_STYLE};user-select:all}}
pre{{white-space:pre-wrap;word-break:break-word;font-family:inherit;font-size:14px;margin:8px 0 0;color:#444}}
.empty{{color:#6a737d;text-align:center;padding:48px 0}}
"""

# Reloads the page when a new mail arrives, instead of on a timer, so copying a code is never
# interrupted; without JavaScript the <noscript> refresh does it.
_PAGE_SCRIPT = """
(function () {
  var newest = document.body.getAttribute("data-newest");
  setInterval(function () {
    fetch("/dev/mail/messages", {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (mails) {
        if (!mails) return;
        var now = mails.length ? mails[0].receivedAt + "|" + mails.length : "";
        if (now !== newest) location.reload();
      })
      .catch(function () {});
  }, 3000);
})();
"""


def _entry(mail: MailboxEntry) -> str:
    shown = f'<div class="code">{escape(mail.code)}</div>' if mail.code else ""
    return f"""<article>
<div class="meta"><span>To: {escape(mail.to)}</span><time>{escape(mail.received_at)}</time></div>
<div class="subject">{escape(mail.subject)}</div>
{shown}
<pre>{escape(mail.body)}</pre>
</article>"""


def mailbox_page(mails: Sequence[MailboxEntry]) -> str:
    """The dev mailbox as a page: newest first, codes large, refreshed when mail arrives."""
    newest = f"{mails[0].received_at}|{len(mails)}" if mails else ""
    items = "\n".join(_entry(m) for m in mails) or '<p class="empty">No mail yet. Log in to get a code.</p>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Parley dev mailbox</title>
<noscript><meta http-equiv="refresh" content="5"></noscript>
<style>{_PAGE_STYLE}</style>
</head>
<body data-newest="{escape(newest)}">
<main>
<h1>Dev mailbox</h1>
<p class="hint">Mail Parley sent while no SMTP server is configured, newest first. This page updates itself.</p>
{items}
</main>
<script>{_PAGE_SCRIPT}</script>
</body>
</html>
"""
