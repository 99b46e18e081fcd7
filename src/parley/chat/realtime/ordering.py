"""Per-chat delivery order without a lock across instances: :class:`InOrder`."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog

from parley.chat.events import NEW_MESSAGE

log = structlog.get_logger(__name__)


class InOrder:
    """Hands each chat's ``newMessage`` events on in ``seq`` order, whatever order they arrive in.

    A chat's sequence numbers have no gaps (see ``parley.chat.writer``), but instances publish
    their batches independently, so number 6 may arrive before 5. What comes early is held until
    the missing one arrives, or for at most ``gap_timeout`` seconds (its publisher may have died
    between commit and publish): then what is held goes out in order. The first message heard of
    a chat with a number above 1 waits ``first_wait`` seconds for an earlier one still on its way.
    Nothing is ever dropped; a late one goes out at once. At most ``max_chats`` chats are
    remembered (least recently used first forgotten).
    """

    def __init__(
        self,
        hand_on: Callable[[Any], None],
        *,
        gap_timeout: float = 2.0,
        first_wait: float = 0.05,
        max_chats: int = 50_000,
    ) -> None:
        self._hand_on = hand_on
        self.gap_timeout = gap_timeout
        self.first_wait = first_wait
        self.max_chats = max_chats
        self._next: OrderedDict[str, int] = OrderedDict()
        self._held: dict[str, dict[int, Any]] = {}
        # Events about a message (``messageUpdated``) waiting for its ``newMessage`` to go out first.
        self._after: dict[str, list[tuple[int, Any]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def offer(self, chat_id: str, seq: int, item: Any) -> None:
        expected = self._next.get(chat_id)
        if expected is None and seq == 1:
            expected = 1
        if expected is None:
            self._hold(chat_id, seq, item, self.first_wait)
        elif seq < expected:
            self._hand_on(item)
        elif seq > expected:
            self._hold(chat_id, seq, item, self.gap_timeout)
        else:
            self._hand_on(item)
            self._advance(chat_id, seq + 1)
            self._release(chat_id)
            self._release_after(chat_id)

    def offer_after(self, chat_id: str, seq: int, item: Any) -> None:
        """An event about message ``seq`` of the chat: handed on once that message's ``newMessage`` was.

        So a client never hears of a change to a message before the message itself. Held at most as
        long as the message would be.
        """
        expected = self._next.get(chat_id)
        held = self._held.get(chat_id) or {}
        waits = bool(held) and seq >= min(held) if expected is None else seq >= expected
        if not waits:
            self._hand_on(item)
            return
        self._after.setdefault(chat_id, []).append((seq, item))
        if chat_id not in self._timers:
            self._timers[chat_id] = asyncio.get_running_loop().call_later(
                self.gap_timeout, self._expire, chat_id
            )

    def _release_after(self, chat_id: str) -> None:
        waiting = self._after.get(chat_id)
        if not waiting:
            return
        next_seq = self._next.get(chat_id, 0)
        ready = [item for seq, item in waiting if seq < next_seq]
        rest = [(seq, item) for seq, item in waiting if seq >= next_seq]
        for item in ready:
            self._hand_on(item)
        if rest:
            self._after[chat_id] = rest
            return
        del self._after[chat_id]
        if not self._held.get(chat_id):
            timer = self._timers.pop(chat_id, None)
            if timer is not None:
                timer.cancel()

    def _advance(self, chat_id: str, next_seq: int) -> None:
        self._next[chat_id] = next_seq
        self._next.move_to_end(chat_id)
        while len(self._next) > self.max_chats:
            self._next.popitem(last=False)

    def _hold(self, chat_id: str, seq: int, item: Any, wait: float) -> None:
        self._held.setdefault(chat_id, {})[seq] = item
        if chat_id not in self._timers:
            self._timers[chat_id] = asyncio.get_running_loop().call_later(wait, self._expire, chat_id)

    def _release(self, chat_id: str) -> None:
        held = self._held.get(chat_id)
        if not held:
            return
        next_seq = self._next[chat_id]
        while next_seq in held:
            self._hand_on(held.pop(next_seq))
            next_seq += 1
        self._advance(chat_id, next_seq)
        if not held:
            del self._held[chat_id]
            if not self._after.get(chat_id):
                timer = self._timers.pop(chat_id, None)
                if timer is not None:
                    timer.cancel()

    def _expire(self, chat_id: str) -> None:
        self._timers.pop(chat_id, None)
        held = self._held.pop(chat_id, {})
        after = self._after.pop(chat_id, [])
        if held:
            log.warning("realtime.order.gap", chat_id=chat_id, held=len(held))
            for seq in sorted(held):
                self._hand_on(held[seq])
            self._advance(chat_id, max(held) + 1)
        for _, item in after:
            self._hand_on(item)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._held.clear()
        self._after.clear()


def ordering_key(message: Any, event: str = NEW_MESSAGE) -> tuple[str, int] | None:
    """``(chat id, seq)`` of a published ``event`` (``newMessage``, or ``messageUpdated``); else None."""
    if message.get("event") != event:
        return None
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else None
    if not isinstance(payload, dict):
        return None
    chat_id, seq = payload.get("chatId"), payload.get("seq")
    if isinstance(chat_id, str) and isinstance(seq, int):
        return chat_id, seq
    return None
