"""Following a Redis pub/sub channel for as long as a process runs, through lost connections.

The process-wide lists that pub/sub keeps current (revoked sessions, blocks between people) each
follow their channel with :func:`follow`: it hands every message to a callback and, after a lost
subscription is made again, calls ``resubscribed`` so the follower can catch up on what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = structlog.get_logger(__name__)


async def subscribe(cache: Redis, channel: str) -> PubSub:
    pubsub = cache.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    return pubsub


async def follow(
    cache: Redis,
    channel: str,
    on_message: Callable[[Any], None],
    *,
    pubsub: PubSub | None = None,
    resubscribed: Callable[[], Awaitable[None]] | None = None,
    lost_event: str = "notices.lost",
) -> None:
    """Hand each message published on ``channel`` to ``on_message``, until cancelled.

    ``pubsub`` is a subscription made beforehand (so nothing published after the caller's own
    start-up is missed), or None to subscribe here. Each later subscription, after a loss, is
    followed by ``resubscribed()``. ``on_message`` runs in the listening task: it must not block.
    """
    backoff = 0.5
    while True:
        try:
            if pubsub is None:
                pubsub = await subscribe(cache, channel)
                if resubscribed is not None:
                    await resubscribed()
            backoff = 0.5
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    on_message(message.get("data"))
                except Exception as exc:
                    log.error("notices.handler_failed", channel=channel, error=f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(lost_event, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                pubsub = None
