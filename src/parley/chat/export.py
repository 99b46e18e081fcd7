"""A chat's whole conversation as a download: JSON ``{chat, members, messages}`` or an HTML page.

The export is streamed: the messages are read a page at a time (:data:`PAGE` per query, each in a
short transaction of its own, since the request's unit of work has ended once streaming starts),
so a long chat is never held in memory at once. The HTML page is self-contained: inline styles,
every text escaped, images as links (signed, valid as long as any image link), no scripts, and a
Content-Security-Policy that would refuse any.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from parley.chat import store
from parley.chat.documents import MediaLinks, iso, message_document
from parley.chat.schemas import ChatDetail, MessageOut, SystemOut, UserOut
from parley.core.database import Database

PAGE = 500
Format = Literal["json", "html"]
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True)
class Export:
    """What the caller may export, checked in the request: the chat, its members, who asked."""

    chat: ChatDetail
    members: list[UserOut]
    title: str
    exported_at: str


async def messages(db: Database, links: MediaLinks, chat_id: str) -> AsyncIterator[MessageOut]:
    """Every message of the chat, oldest first, read :data:`PAGE` at a time."""
    after = 0
    while True:
        async with db.session() as session:
            page = await store.messages_after(session, chat_id, after_seq=after, limit=PAGE)
            quoted = [m.reply_to for m in page if m.reply_to and not m.deleted]
            originals = await store.messages_by_ids(session, quoted) if quoted else {}
            reactions = await store.reactions_of(session, [m.id for m in page if not m.deleted])
        for message in page:
            reply = originals.get(message.reply_to) if message.reply_to else None
            yield message_document(message, links, reply=reply, reactions=reactions.get(message.id, []))
        if len(page) < PAGE:
            return
        after = page[-1].seq


def filename(export: Export, fmt: Format) -> str:
    return f"parley-chat-{export.chat.id}.{fmt}"


async def as_json(export: Export, db: Database, links: MediaLinks) -> AsyncIterator[bytes]:
    """``{"chat": …, "members": […], "messages": […]}``, written as the messages are read."""
    chat = export.chat.model_dump_json(by_alias=True)
    members = json.dumps([m.model_dump(mode="json", by_alias=True) for m in export.members])
    yield f'{{"chat":{chat},"members":{members},"messages":['.encode()
    first = True
    async for message in messages(db, links, export.chat.id):
        yield (b"" if first else b",") + message.model_dump_json(by_alias=True).encode()
        first = False
    yield b"]}\n"


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem;margin-bottom:.2rem}.meta{color:#59636e;font-size:.85rem}
ol{list-style:none;padding:0}li{padding:.45rem 0;border-bottom:1px solid #eaeef2}
.who{font-weight:600}time{color:#59636e;font-size:.8rem;margin-left:.5rem}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.15rem 0}.system{color:#59636e;font-style:italic}
"""


async def as_html(export: Export, db: Database, links: MediaLinks) -> AsyncIterator[bytes]:
    """A self-contained page: escaped text, images as links, no scripts."""
    names = {m.id: m.name for m in export.members}
    title = html.escape(export.title)
    people = ", ".join(html.escape(m.name) for m in export.members)
    yield (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{title}</h1><p class="meta">Exported from Parley on {html.escape(export.exported_at)}. '
        f"Members: {people}.</p><ol>\n"
    ).encode()
    async for message in messages(db, links, export.chat.id):
        who = html.escape(names.get(message.sender, "Someone who left"))
        parts = [
            f'<li id="m-{html.escape(message.id)}"><span class="who">{who}</span>'
            f'<time datetime="{message.createdAt}">{message.createdAt}</time>'
        ]
        if message.replyTo is not None:
            quote = "a deleted message" if message.replyTo.deleted else message.replyTo.text
            parts.append(f"<blockquote>{html.escape(quote)}</blockquote>")
        if message.system is not None:
            parts.append(f'<p class="text system">{html.escape(describe(message.system, names))}</p>')
        elif message.deleted:
            parts.append('<p class="text system">This message was deleted.</p>')
        elif message.text:
            parts.append(f'<p class="text">{html.escape(message.text)}</p>')
        if message.image is not None:
            size = f"{message.image.width}×{message.image.height}"
            parts.append(
                f'<p><a href="{html.escape(message.image.url)}" rel="noreferrer">Image ({size})</a></p>'
            )
        if message.reactions:
            shown = " ".join(f"{r.emoji} {len(r.users)}" for r in message.reactions)
            parts.append(f'<p class="meta">{html.escape(shown)}</p>')
        parts.append("</li>\n")
        yield "".join(parts).encode()
    yield b"</ol></body></html>\n"


def describe(system: SystemOut, names: dict[str, str]) -> str:
    """A system message in words: "Alice added Bob and Carol"."""

    def name(user_id: str) -> str:
        return names.get(user_id, "someone who left")

    actor = name(system.actor)
    users = " and ".join(name(u) for u in system.users) or "someone"
    return {
        "created": f"{actor} created the group {system.name or ''}".rstrip(),
        "added": f"{actor} added {users}",
        "removed": f"{actor} removed {users}",
        "left": f"{actor} left",
        "renamed": f"{actor} renamed the group to {system.name or ''}".rstrip(),
    }[system.action]


def exported_now() -> str:
    return iso(store.utcnow())
