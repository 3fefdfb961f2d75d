"""A small asyncio TCP proxy in front of Redis that loses replies on purpose.

Requests always reach Redis; with probability `drop` a chunk of the reply is thrown
away and both connections are closed — the command ran, the client never hears.
With `delay_s`, every reply chunk waits that long first (a slow Redis or network).
Seeded, so a test run is reproducible; loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random


class FaultProxy:
    def __init__(
        self, upstream_port: int, drop: float, seed: int = 1, delay_s: float = 0.0
    ) -> None:
        self._upstream_port = upstream_port
        self.drop = drop
        self.delay_s = delay_s
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self.dropped = 0
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)

        async def requests() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
                await up_writer.drain()

        loop = asyncio.get_running_loop()
        late: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def replies() -> None:
            while data := await up_reader.read(65536):
                if self._rng.random() < self.drop:
                    self.dropped += 1
                    return  # the reply is lost; closing both ends below
                if self.delay_s or not late.empty():  # never overtake a delayed chunk
                    # Latency, not bandwidth: each chunk is due delay_s after it came.
                    late.put_nowait((loop.time() + self.delay_s, data))
                    continue
                writer.write(data)
                await writer.drain()

        async def delayed() -> None:
            while True:
                due, data = await late.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()

        tasks = [
            asyncio.ensure_future(requests()),
            asyncio.ensure_future(replies()),
            asyncio.ensure_future(delayed()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        for w in (writer, up_writer):
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
