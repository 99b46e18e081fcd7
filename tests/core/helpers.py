"""A TCP relay a test can freeze: a database or cache behind it stops answering, as a frozen host
does, while the real server (shared with others) runs on untouched."""

from __future__ import annotations

import asyncio
import contextlib


class FreezableRelay:
    """Relays connections from a local port to ``host:port`` until :meth:`freeze` is called;
    from then on it accepts connections and bytes but passes nothing on, either way."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.thawed = asyncio.Event()
        self.thawed.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def freeze(self) -> None:
        self.thawed.clear()

    async def close(self) -> None:
        self.thawed.set()
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await self.thawed.wait()
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers.append(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await source.read(65536):
                await self.thawed.wait()
                sink.write(data)
                await sink.drain()
        sink.close()
