"""The message bus: RabbitMQ through aio-pika, or an in-process queue when no broker is set.

Both kinds keep the same promise: a published message is persisted (publisher confirms,
persistent delivery mode, durable queues) before ``publish`` returns; a consumed message is
acknowledged only after its handler finished; a failing handler's message is retried after each
of ``retry_delays`` and then parked in ``<queue>.dead``; a message that is not a JSON object, or
whose handler raises :class:`PermanentFailure`, is parked at once. Nothing is dropped.

``publish_later`` delivers a message to its queue after a delay. On RabbitMQ it waits, persisted,
in a queue per delay (``<queue>.delay.<ms>``, whose TTL dead-letters it into ``<queue>``), so it
survives restarts of the broker and of every service; in process it is a timer, which lasts as long
as the process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from parley.core import context

log = structlog.get_logger(__name__)

ATTEMPT_HEADER = "x-attempt"
ERROR_HEADER = "x-error"
REQUEST_ID_HEADER = "x-request-id"


@dataclass
class Envelope:
    """One delivery of a message to a handler."""

    body: dict[str, Any]
    headers: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1


class PermanentFailure(Exception):
    """Raised by a handler for a message that no retry can fix; it is parked at once."""


Handler = Callable[[Envelope], Awaitable[None]]


class Bus(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def publish(
        self, queue: str, body: dict[str, Any], *, headers: dict[str, Any] | None = None
    ) -> None: ...
    async def publish_later(self, queue: str, body: dict[str, Any], delay: float) -> None: ...
    async def consume(
        self, queue: str, handler: Handler, *, retry_delays: Sequence[float], prefetch: int = 10
    ) -> None: ...
    async def stop_consuming(self, timeout: float = 30) -> None: ...


class BrokerUnreachable(Exception):
    """RabbitMQ did not accept a connection; the message says why in a few words."""


async def check_broker_reachable(url: str, timeout: float = 10) -> None:
    """Open and close one connection to the broker at ``url``, or raise :class:`BrokerUnreachable`.

    The client library's own log line about the failure is held back: the caller says it once.
    """
    quiet = logging.getLogger("aiormq.connection")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        connection = await aio_pika.connect(url, timeout=timeout)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BrokerUnreachable(reason[:200]) from None
    finally:
        quiet.setLevel(level)
    await connection.close()


def dead_queue(queue: str) -> str:
    return f"{queue}.dead"


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _attempt(headers: dict[str, Any]) -> int:
    """Which delivery attempt this is (1 for a message published without our header)."""
    try:
        return max(1, int(headers.get(ATTEMPT_HEADER) or 1))
    except (TypeError, ValueError):
        return 1


def _outgoing_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(headers or {})
    request_id = context.current_request_id()
    if request_id and REQUEST_ID_HEADER not in out:
        out[REQUEST_ID_HEADER] = request_id
    return out


class _Consumers:
    """Tracks handlers in flight so shutdown can finish the message in hand."""

    def __init__(self) -> None:
        self.in_flight: set[asyncio.Task[Any]] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    async def run(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.in_flight.add(task)
        self.idle.clear()
        try:
            await task
        finally:
            self.in_flight.discard(task)
            if not self.in_flight:
                self.idle.set()

    async def wait_idle(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), timeout)


async def _handle(
    handler: Handler, queue: str, raw: bytes, headers: dict[str, Any], retry_delays: Sequence[float]
) -> tuple[str, float, str | None]:
    """Run ``handler``; say what to do with the message: ("ack"|"retry"|"dead", delay, error)."""
    attempt = _attempt(headers)
    body = _decode(raw)
    request_id = headers.get(REQUEST_ID_HEADER)
    with context.bound(request_id=str(request_id) if request_id else None):
        if body is None:
            log.warning("bus.message.malformed", queue=queue)
            return "dead", 0, "malformed: not a JSON object"
        try:
            await handler(Envelope(body=body, headers=headers, attempt=attempt))
        except PermanentFailure as exc:
            log.warning("bus.message.rejected", queue=queue, error=str(exc))
            return "dead", 0, f"rejected: {exc}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt <= len(retry_delays):
                delay = retry_delays[attempt - 1]
                log.warning("bus.message.retry", queue=queue, attempt=attempt, delay=delay, error=error)
                return "retry", delay, error
            log.error("bus.message.dead", queue=queue, attempt=attempt, error=error)
            return "dead", 0, error
    return "ack", 0, None


def _put_later(
    q: asyncio.Queue[tuple[bytes, dict[str, Any]]],
    item: tuple[bytes, dict[str, Any]],
    delay: float,
    timers: set[asyncio.TimerHandle],
) -> None:
    """Put ``item`` on ``q`` after ``delay`` seconds; the timer is in ``timers`` until it fires."""

    def fire() -> None:
        timers.discard(timer)
        q.put_nowait(item)

    timer = asyncio.get_running_loop().call_later(max(0.0, delay), fire)
    timers.add(timer)


class MemoryBus:
    """An in-process broker: queues live in this process and are shared by every service in it."""

    _brokers: ClassVar[dict[str, dict[str, asyncio.Queue[tuple[bytes, dict[str, Any]]]]]] = {}
    # Delayed deliveries (``publish_later``), kept apart from any one bus so closing it keeps them.
    _delayed: ClassVar[set[asyncio.TimerHandle]] = set()

    def __init__(self, url: str = "memory://") -> None:
        self.queues = MemoryBus._brokers.setdefault(url, {})
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._in_hand: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def _queue(self, name: str) -> asyncio.Queue[tuple[bytes, dict[str, Any]]]:
        return self.queues.setdefault(name, asyncio.Queue())

    async def connect(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def publish(
        self, queue: str, body: dict[str, Any], *, headers: dict[str, Any] | None = None
    ) -> None:
        self._queue(queue).put_nowait((json.dumps(body).encode(), _outgoing_headers(headers)))

    async def publish_raw(self, queue: str, raw: bytes, headers: dict[str, Any] | None = None) -> None:
        self._queue(queue).put_nowait((raw, dict(headers or {})))

    async def publish_later(self, queue: str, body: dict[str, Any], delay: float) -> None:
        # A timer of the process: every service in it shares the queues, so a restarted service
        # still gets it; a restart of the process loses it (durability is the broker's).
        _put_later(
            self._queue(queue),
            (json.dumps(body).encode(), _outgoing_headers(None)),
            delay,
            MemoryBus._delayed,
        )

    async def consume(
        self, queue: str, handler: Handler, *, retry_delays: Sequence[float], prefetch: int = 10
    ) -> None:
        q = self._queue(queue)

        async def worker() -> None:
            me = asyncio.current_task()
            assert me is not None
            while not self._stopping:
                raw, headers = await q.get()
                self._in_hand.add(me)
                try:
                    action, delay, error = await _handle(handler, queue, raw, headers, retry_delays)
                except asyncio.CancelledError:
                    # Cut off mid-message (shutdown timed out): it goes back, unacknowledged.
                    q.put_nowait((raw, headers))
                    raise
                finally:
                    self._in_hand.discard(me)
                if action == "retry":
                    item = (raw, {**headers, ATTEMPT_HEADER: _attempt(headers) + 1})
                    _put_later(q, item, delay, self._timers)
                elif action == "dead":
                    self._queue(dead_queue(queue)).put_nowait((raw, {**headers, ERROR_HEADER: error}))

        self._stopping = False
        self._tasks.extend(asyncio.create_task(worker()) for _ in range(max(1, prefetch)))

    async def stop_consuming(self, timeout: float = 30) -> None:
        """Take no more messages; let the ones in hand finish (up to ``timeout``), then stop."""
        self._stopping = True
        in_hand = set(self._in_hand)
        for task in self._tasks:
            if task not in in_hand:
                task.cancel()
        if in_hand:
            await asyncio.wait(in_hand, timeout=timeout)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def close(self) -> None:
        await self.stop_consuming()

    @classmethod
    def reset(cls) -> None:
        cls._brokers.clear()


class RabbitBus:
    """RabbitMQ: durable queues, persistent messages, publisher confirms, a robust connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._consume_channels: list[tuple[AbstractRobustChannel, Any, str]] = []
        self._declared: set[str] = set()
        self._consumers = _Consumers()

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self.url, timeout=10)
        self._publish_channel = await self._connection.channel(publisher_confirms=True)

    async def ping(self) -> None:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionError("not connected to the broker")
        if self._publish_channel is None or self._publish_channel.is_closed:
            raise ConnectionError("broker channel is closed")

    async def _declare(self, channel: AbstractRobustChannel, queue: str, **arguments: Any) -> Any:
        return await channel.declare_queue(queue, durable=True, arguments=arguments or None)

    async def _ensure(self, queue: str) -> None:
        if queue not in self._declared:
            assert self._publish_channel is not None
            await self._declare(self._publish_channel, queue)
            self._declared.add(queue)

    async def _send(self, queue: str, raw: bytes, headers: dict[str, Any]) -> None:
        if self._publish_channel is None:
            raise ConnectionError("bus is not connected")
        message = aio_pika.Message(
            raw,
            headers=headers,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._publish_channel.default_exchange.publish(message, routing_key=queue, timeout=10)

    async def publish(
        self, queue: str, body: dict[str, Any], *, headers: dict[str, Any] | None = None
    ) -> None:
        await self._ensure(queue)
        await self._send(queue, json.dumps(body).encode(), _outgoing_headers(headers))

    async def publish_raw(self, queue: str, raw: bytes, headers: dict[str, Any] | None = None) -> None:
        await self._ensure(queue)
        await self._send(queue, raw, dict(headers or {}))

    async def publish_later(self, queue: str, body: dict[str, Any], delay: float) -> None:
        await self._ensure(queue)
        target = await self._delay_queue(queue, delay, "delay")
        await self._send(target, json.dumps(body).encode(), _outgoing_headers(None))

    async def _retry_queue(self, queue: str, delay: float) -> str:
        return await self._delay_queue(queue, delay, "retry")

    async def _delay_queue(self, queue: str, delay: float, kind: str) -> str:
        # One queue per delay: its TTL sends every message back to ``queue`` when due. The delay is
        # in the name so a changed schedule declares new queues instead of clashing with old ones.
        # Every message of one such queue waits as long, so the oldest is always the first due.
        ms = max(1, int(delay * 1000))
        name = f"{queue}.{kind}.{ms}"
        if name not in self._declared:
            assert self._publish_channel is not None
            await self._declare(
                self._publish_channel,
                name,
                **{"x-message-ttl": ms, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
            )
            self._declared.add(name)
        return name

    async def consume(
        self, queue: str, handler: Handler, *, retry_delays: Sequence[float], prefetch: int = 10
    ) -> None:
        assert self._connection is not None, "connect() first"
        channel: AbstractRobustChannel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=prefetch)
        q = await self._declare(channel, queue)
        await self._ensure(dead_queue(queue))
        for delay in retry_delays:
            await self._retry_queue(queue, delay)

        async def on_message(message: AbstractIncomingMessage) -> None:
            async def process() -> None:
                headers = dict(message.headers or {})
                action, delay, error = await _handle(handler, queue, message.body, headers, retry_delays)
                # Park or reschedule first, acknowledge after: if that publish fails the message
                # stays unacknowledged and the broker delivers it again.
                if action == "retry":
                    attempt = _attempt(headers) + 1
                    target = await self._retry_queue(queue, delay)
                    await self._send(target, message.body, {**headers, ATTEMPT_HEADER: attempt})
                elif action == "dead":
                    await self._send(dead_queue(queue), message.body, {**headers, ERROR_HEADER: error})
                await message.ack()

            try:
                await self._consumers.run(process())
            except Exception:
                log.exception("bus.consume.failed", queue=queue)
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)

        tag = await q.consume(on_message)
        self._consume_channels.append((channel, q, tag))

    async def stop_consuming(self, timeout: float = 30) -> None:
        for _channel, q, tag in self._consume_channels:
            with contextlib.suppress(Exception):
                await q.cancel(tag)
        await self._consumers.wait_idle(timeout)
        for channel, _q, _tag in self._consume_channels:
            with contextlib.suppress(Exception):
                await channel.close()
        self._consume_channels.clear()

    async def close(self) -> None:
        await self.stop_consuming()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
            self._publish_channel = None


def create_bus(url: str) -> MemoryBus | RabbitBus:
    """The bus for ``url``: ``memory://`` in process, ``amqp://`` RabbitMQ (vhost honoured)."""
    if url.startswith("memory://"):
        return MemoryBus(url)
    return RabbitBus(url)
