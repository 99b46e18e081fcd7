"""The message bus keeps its promise on both brokers: in process and RabbitMQ.

Handled once and acknowledged after the handler; retried after each configured delay; parked in
``<queue>.dead`` (with ``x-error``) after the last try, or at once for a message that is not a
JSON object or that the handler refuses for good; the message in hand finished on shutdown and
redelivered when a consumer goes away without acknowledging it; publishing works again after
the broker dropped the connection.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from parley.core import context
from parley.core.bus import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    REQUEST_ID_HEADER,
    Envelope,
    MemoryBus,
    PermanentFailure,
    RabbitBus,
    create_bus,
    dead_queue,
)
from tests.mail.helpers import QueueProbe, drop_connections, wait_for

Bus = MemoryBus | RabbitBus
MakeBus = Callable[[], Awaitable[Bus]]


@pytest.fixture
async def make_bus(bus_url: str) -> AsyncIterator[MakeBus]:
    """Connected buses on the test's broker, closed afterwards (each its own connection)."""
    buses: list[Bus] = []

    async def make() -> Bus:
        bus = create_bus(bus_url)
        await bus.connect()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
async def probe(bus_url: str) -> AsyncIterator[QueueProbe]:
    p = QueueProbe(bus_url)
    yield p
    await p.close()


@pytest.fixture
def queue() -> str:
    return f"test-{secrets.token_hex(4)}"


class Recorder:
    """A handler that records every delivery and can be told to fail or to wait."""

    def __init__(self, fail_times: int = 0, error: Exception | None = None) -> None:
        self.deliveries: list[Envelope] = []
        self.times: list[float] = []
        self.fail_times = fail_times
        self.error = error or RuntimeError("boom")
        self.finished: list[dict[str, Any]] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.deliveries.append(envelope)
        self.times.append(time.monotonic())
        if len(self.deliveries) <= self.fail_times:
            raise self.error
        self.finished.append(envelope.body)

    def bodies(self) -> list[dict[str, Any]]:
        return [e.body for e in self.deliveries]


async def test_a_published_message_is_handled_once_and_acknowledged(
    make_bus: MakeBus, probe: QueueProbe, queue: str
) -> None:
    bus = await make_bus()
    handler = Recorder()
    with context.bound(request_id="req-42"):
        await bus.publish(queue, {"n": 1})
    await bus.consume(queue, handler, retry_delays=[0.1])
    await wait_for(lambda: len(handler.finished) == 1, what="the message to be handled")
    await bus.stop_consuming()

    assert handler.bodies() == [{"n": 1}]
    assert handler.deliveries[0].attempt == 1
    assert handler.deliveries[0].headers[REQUEST_ID_HEADER] == "req-42"
    assert await probe.count(queue) == 0, "an acknowledged message does not come back"
    assert await probe.count(dead_queue(queue)) == 0


async def test_a_failing_handler_is_retried_after_each_delay(
    make_bus: MakeBus, probe: QueueProbe, queue: str
) -> None:
    bus = await make_bus()
    handler = Recorder(fail_times=2)
    await bus.consume(queue, handler, retry_delays=[0.3, 0.6])
    await bus.publish(queue, {"n": 2})
    await wait_for(lambda: len(handler.finished) == 1, what="the third attempt to succeed")
    await bus.stop_consuming()

    assert handler.bodies() == [{"n": 2}] * 3
    assert [e.attempt for e in handler.deliveries] == [1, 2, 3]
    first_gap, second_gap = (b - a for a, b in zip(handler.times, handler.times[1:], strict=False))
    assert first_gap >= 0.25, first_gap
    assert second_gap >= 0.55, second_gap
    assert await probe.count(queue) == 0
    assert await probe.count(dead_queue(queue)) == 0


async def test_a_message_that_always_fails_is_parked_with_its_error(
    make_bus: MakeBus, probe: QueueProbe, queue: str
) -> None:
    bus = await make_bus()
    handler = Recorder(fail_times=1000, error=RuntimeError("boom"))
    await bus.consume(queue, handler, retry_delays=[0.05, 0.05])
    await bus.publish(queue, {"n": 3})

    [parked] = await probe.wait_parked(dead_queue(queue))
    await bus.stop_consuming()
    assert parked.body == b'{"n": 3}'
    assert parked.headers[ERROR_HEADER] == "RuntimeError: boom"
    assert parked.headers[ATTEMPT_HEADER] == 3
    assert [e.attempt for e in handler.deliveries] == [1, 2, 3], "one try and two retries"
    assert await probe.count(queue) == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
async def test_a_message_that_is_not_a_json_object_is_parked_at_once(
    make_bus: MakeBus, probe: QueueProbe, queue: str, raw: bytes
) -> None:
    bus = await make_bus()
    handler = Recorder()
    await bus.consume(queue, handler, retry_delays=[0.05])
    await bus.publish_raw(queue, raw)
    await bus.publish(queue, {"after": True})

    [parked] = await probe.wait_parked(dead_queue(queue))
    assert parked.body == raw
    assert str(parked.headers[ERROR_HEADER]).startswith("malformed")
    await wait_for(lambda: handler.finished == [{"after": True}], what="the next message")
    assert handler.bodies() == [{"after": True}], "the handler never sees the malformed message"


async def test_a_permanent_failure_is_parked_at_once(
    make_bus: MakeBus, probe: QueueProbe, queue: str
) -> None:
    bus = await make_bus()
    handler = Recorder(fail_times=1, error=PermanentFailure("no such recipient"))
    await bus.consume(queue, handler, retry_delays=[0.05, 0.05])
    await bus.publish(queue, {"n": 4})

    [parked] = await probe.wait_parked(dead_queue(queue))
    await bus.stop_consuming()
    assert parked.headers[ERROR_HEADER] == "rejected: no such recipient"
    assert len(handler.deliveries) == 1, "no retry for a permanent failure"


async def test_stop_consuming_finishes_the_message_in_hand(
    make_bus: MakeBus, probe: QueueProbe, queue: str, bus_url: str
) -> None:
    bus = await make_bus()
    started, release = asyncio.Event(), asyncio.Event()
    done: list[int] = []

    async def slow(envelope: Envelope) -> None:
        started.set()
        await release.wait()
        done.append(envelope.body["n"])

    await bus.consume(queue, slow, retry_delays=[0.05])
    await bus.publish(queue, {"n": 5})
    await asyncio.wait_for(started.wait(), 15)

    stopping = asyncio.create_task(bus.stop_consuming(timeout=15))
    with pytest.raises(TimeoutError):
        # Still waiting for the handler: shutdown does not abandon the mail in hand.
        await asyncio.wait_for(asyncio.shield(stopping), 0.3)
    release.set()
    await asyncio.wait_for(stopping, 15)

    assert done == [5]
    assert await probe.count(queue) == 0, "the finished message was acknowledged"
    # Later messages wait in the queue for the next consumer.
    await bus.publish(queue, {"n": 6})
    await wait_for(lambda: probe.count(queue), what="the next message to stay queued")
    assert done == [5]


async def test_a_message_not_acknowledged_is_delivered_again(
    make_bus: MakeBus, probe: QueueProbe, queue: str, bus_url: str
) -> None:
    first, second = await make_bus(), await make_bus()
    started, never = asyncio.Event(), asyncio.Event()

    async def stuck(envelope: Envelope) -> None:
        started.set()
        await never.wait()

    await first.consume(queue, stuck, retry_delays=[0.05])
    await first.publish(queue, {"n": 7})
    await asyncio.wait_for(started.wait(), 15)
    try:
        # The consumer goes away before its handler returned (it gives up waiting for it).
        await first.stop_consuming(timeout=0.1)
        handler = Recorder()
        await second.consume(queue, handler, retry_delays=[0.05])
        await wait_for(lambda: handler.finished == [{"n": 7}], timeout=5, what="the message again")
        await second.stop_consuming()
    finally:
        never.set()
    assert await probe.count(dead_queue(queue)) == 0


@pytest.mark.parametrize("bus_url", ["rabbitmq"], indirect=True)
async def test_the_bus_recovers_when_the_broker_drops_its_connections(
    make_bus: MakeBus, bus_url: str, queue: str
) -> None:
    bus = await make_bus()
    handler = Recorder()
    await bus.consume(queue, handler, retry_delays=[0.05])
    await bus.publish(queue, {"n": "before"})
    await wait_for(lambda: len(handler.finished) == 1, what="the first message")

    assert isinstance(bus, RabbitBus) and bus._connection is not None
    reconnected = asyncio.Event()
    bus._connection.reconnect_callbacks.add(lambda *_: reconnected.set())

    await drop_connections(bus_url)

    async def published() -> bool:
        try:
            await bus.publish(queue, {"n": "after"})
        except Exception:
            return False
        return True

    await wait_for(published, timeout=30, what="publishing to work again")
    await wait_for(lambda: len(handler.finished) == 2, timeout=30, what="the restored consumer")
    assert handler.finished == [{"n": "before"}, {"n": "after"}]
    # aio-pika calls its reconnect callbacks only after every channel is restored, which can be
    # after the restored channels have already carried the message: await it, do not race it.
    await asyncio.wait_for(reconnected.wait(), timeout=30)
    await bus.ping()


async def test_a_message_published_for_later_arrives_once_after_its_delay(
    make_bus: MakeBus, probe: QueueProbe, queue: str
) -> None:
    publisher, consumer = await make_bus(), await make_bus()
    handler = Recorder()
    await consumer.consume(queue, handler, retry_delays=[])
    published = time.monotonic()
    await publisher.publish_later(queue, {"n": 1}, 0.5)
    await wait_for(lambda: handler.deliveries, what="the delayed message")
    assert [d.body for d in handler.deliveries] == [{"n": 1}]
    assert handler.times[0] - published >= 0.45, "not before its delay"
    assert await probe.count(queue) == 0


async def test_a_delayed_message_waits_in_the_broker_not_in_the_publisher(
    bus_url: str, make_bus: MakeBus, probe: QueueProbe, queue: str
) -> None:
    """The publisher goes away at once; the message still comes due (RabbitMQ: a TTL queue that
    dead-letters into the queue, persisted; in process: a timer shared by the process)."""
    publisher = await make_bus()
    await publisher.publish_later(queue, {"n": 2}, 0.3)
    await publisher.close()
    if not probe.memory:
        assert await probe.count(f"{queue}.delay.300") == 1, "waiting, persisted, in the delay queue"
    await wait_for(lambda: probe.count(queue), what="the message to come due")
    handler = Recorder()
    consumer = await make_bus()
    await consumer.consume(queue, handler, retry_delays=[])
    await wait_for(lambda: handler.deliveries, what="the delayed message")
    assert [d.body for d in handler.deliveries] == [{"n": 2}]
