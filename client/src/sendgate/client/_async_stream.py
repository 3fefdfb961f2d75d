"""CanSendStream for the asyncio client: pipelined, per-message deadlines, fail-open.

grpc.aio reads the request iterator in its own task and cancels that task when the
call ends, so the next input message is read by a task of its own (shielded): a
message read while a stream dies is not lost but sent on the next stream. The reader
waits for each answer no longer than the oldest unanswered request's deadline. With
fail_open, a failed stream answers its unanswered requests ALLOW
(`sidecar_unavailable`) and the next message opens a new stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import Any

import grpc

from sendgate.client._calls import Sendable, SendOptions, send_pb
from sendgate.client._core import Settings, StreamClock
from sendgate.client._errors import SIDECAR_DOWN, ClientError, map_rpc_error, stream_deadline
from sendgate.client._results import CanSendResult

_END: Any = object()


async def _aiter(
    messages: AsyncIterable[Sendable] | Iterable[Sendable],
) -> AsyncGenerator[Any, None]:
    if isinstance(messages, AsyncIterable):
        async for m in messages:
            yield m
    else:
        for m in messages:
            yield m


class _Source:
    """The caller's messages; the pending read survives a cancelled reader."""

    def __init__(self, messages: AsyncIterable[Sendable] | Iterable[Sendable]) -> None:
        self._it = _aiter(messages)
        self._next: asyncio.Future[Any] | None = None
        # One reader at a time; a dead stream's reader hands back what it read.
        self._lock = asyncio.Lock()
        self.carry: list[Any] = []

    async def _read(self) -> Any:
        return await anext(self._it, _END)

    async def take(self) -> Any:  # Sendable or _END
        async with self._lock:
            if self.carry:
                return self.carry.pop()
            if self._next is None:
                self._next = asyncio.ensure_future(self._read())
            m = await asyncio.shield(self._next)
            self._next = None
            return m

    async def aclose(self) -> None:
        if self._next is not None:
            self._next.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._next
        await self._it.aclose()


class _Attempt:
    """One CanSendStream call."""

    def __init__(self, timeout: float | None) -> None:
        self.clock = StreamClock(timeout)
        self.changed = asyncio.Event()
        self.dead = False
        self.error: BaseException | None = None

    async def requests(self, first: Any, source: _Source, opts: SendOptions) -> AsyncIterator[Any]:
        m = first
        while m is not _END:
            try:
                req = send_pb(m, opts)
            except (TypeError, ValueError) as exc:  # raised in grpc's task: keep it
                self.error = exc
                return
            self.clock.sent()
            self.changed.set()
            yield req
            m = await source.take()
            if self.dead:
                source.carry.append(m)
                return

    async def answers(self, call: Any) -> AsyncIterator[Any]:
        """The responses, each within its deadline (else DeadlineExceeded)."""
        read: asyncio.Future[Any] = asyncio.ensure_future(call.read())
        try:
            while True:
                wait = self.clock.wait_s()
                if wait is not None and wait <= 0:
                    assert self.clock.timeout is not None
                    raise stream_deadline(self.clock.timeout)
                self.changed.clear()
                changed = asyncio.ensure_future(self.changed.wait())
                await asyncio.wait({read, changed}, timeout=wait, return_when="FIRST_COMPLETED")
                changed.cancel()
                if not read.done():
                    continue
                resp = read.result()
                if resp is grpc.aio.EOF:
                    return
                self.clock.answered()
                yield resp
                read = asyncio.ensure_future(call.read())
        finally:
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read


async def can_send_stream(
    stub: Any,
    messages: AsyncIterable[Sendable] | Iterable[Sendable],
    timeout: float | None,
    settings: Settings,
    opts: SendOptions,
) -> AsyncIterator[CanSendResult]:
    source = _Source(messages)
    try:
        while (first := await source.take()) is not _END:
            attempt = _Attempt(timeout)
            call = stub.CanSendStream(
                attempt.requests(first, source, opts), metadata=settings.metadata or None
            )
            try:
                async for resp in attempt.answers(call):
                    yield CanSendResult.from_pb(resp)
            except (grpc.RpcError, ClientError) as exc:
                err = map_rpc_error(exc) if isinstance(exc, grpc.RpcError) else exc
                if not (settings.fail_open and isinstance(err, SIDECAR_DOWN)):
                    if err is exc:
                        raise
                    raise err from exc
                for _ in range(attempt.clock.pending):
                    yield CanSendResult.fail_open()
                continue
            finally:
                attempt.dead = True
                call.cancel()
            if attempt.error is not None:
                raise attempt.error
            return
    finally:
        await source.aclose()
