"""One Redis connection shared by every call in flight (standalone node or one
Cluster primary).

Writes are coalesced. With no reply outstanding, every command issued during one
event-loop turn is written at once at the end of the turn (`call_soon`), so a lone call
waits for nothing. While replies are outstanding, new commands are held in a backlog
and the whole backlog goes out in one write as soon as the next reply data arrives:
Redis answers one connection's commands in order, so a held command loses nothing by
waiting for the replies before it, and the sidecar makes one write syscall per round
trip instead of one per call. A backlog is written at once past `MAX_BACKLOG` commands
or `MAX_BACKLOG_BYTES`, and at the latest `HOLD_MAX_S` after it started (a reply that
never comes: a paused Redis, a BLPOP). Nothing overtakes: one FIFO per connection.
Replies are parsed by `hiredis.Reader` and matched, in order, to a FIFO of waiters.

A waiter whose caller gave up (timeout, cancellation) keeps its place in the FIFO, so
its late reply is read and dropped, never handed to the next caller; one that gives up
while still held is never written at all. A connection lost with calls in flight fails
each written call with `OutcomeUnknown` (never resent); the held backlog was not sent,
so it goes out on a new connection (opened at once), or fails with `NotSent` if that
connect fails. Failed connects back off: calls fail fast with `NotSent` meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis

from sendgate.store.mux.errors import MuxError, NotSent, OutcomeUnknown, ReplyError
from sendgate.store.mux.options import ConnectOptions

__all__ = ["Arg", "MuxConnection", "backoff_delay", "encode", "encode_py"]

Arg = str | bytes | int | float
_NOT_READY = object()  # hiredis's "no complete reply yet" (None is a nil reply)
# A backlog this long (commands) or this large (bytes) is written at once: bounds the
# memory held and the size of one write.
MAX_BACKLOG = 1024
MAX_BACKLOG_BYTES = 256 * 1024
# The longest a command is held for outstanding replies (the fallback flush). Not a
# delay in practice: the next reply flushes the backlog first. At least a millisecond:
# uvloop's timers have millisecond resolution (a shorter one fires on the next turn).
HOLD_MAX_S = 0.002


# hiredis's C encoder (hiredis >= 2.1): a third of the time of the loop below. It takes
# a tuple of exactly str, bytes, int and float; anything else (a bool, an IntEnum)
# raises TypeError and goes the Python way, which writes the same bytes.
_pack_command: Any = getattr(hiredis, "pack_command", None)


def encode(args: Sequence[Arg]) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    if _pack_command is not None and type(args) is tuple:
        try:
            return cast(bytes, _pack_command(args))
        except TypeError:
            pass
    return encode_py(args)


def encode_py(args: Sequence[Arg]) -> bytes:
    """`encode` in Python (any int or str subclass, any sequence)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = repr(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def backoff_delay(failures: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait after `failures` consecutive failed connects (doubling, capped)."""
    return float(min(cap_s, base_s * 2 ** max(0, failures - 1)))


class _Group:
    """Waits for `size` consecutive replies (a pipeline of commands, one waiter)."""

    __slots__ = ("future", "replies", "size")

    def __init__(self, future: asyncio.Future[Any], size: int) -> None:
        self.future = future
        self.size = size
        self.replies: list[Any] = []


_Waiter = asyncio.Future[Any] | _Group


def _done(waiter: _Waiter) -> bool:
    return (waiter.future if type(waiter) is _Group else waiter).done()  # type: ignore[union-attr]


class _Protocol(asyncio.Protocol):
    """One socket: writes buffers, parses replies, resolves waiters in order."""

    def __init__(self, owner: MuxConnection) -> None:
        self._owner = owner
        self._reader = hiredis.Reader(replyError=ReplyError, notEnoughData=_NOT_READY)
        self.pending: deque[_Waiter] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        owner = self._owner
        if owner._queued and owner._proto is self:
            # Replies came: write the held backlog first, so Redis works on it while
            # these replies are handed out (FIFO: it joins the tail of `pending`).
            owner._flush()
        reader, pending = self._reader, self.pending
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not _NOT_READY:
                head = pending.popleft()
                if type(head) is _Group:
                    head.replies.append(reply)
                    if len(head.replies) < head.size:
                        pending.appendleft(head)
                        continue
                    fut, reply = head.future, head.replies
                else:
                    fut = head  # type: ignore[assignment]
                if fut.done():
                    continue  # its caller gave up: the late reply is dropped here
                if type(reply) is ReplyError:
                    fut.set_exception(reply)
                else:
                    fut.set_result(reply)
        except (hiredis.ProtocolError, IndexError):
            # Garbage, or a reply nobody asked for: the stream can no longer be matched.
            assert self.transport is not None
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost(self, exc)
        if not self.closed.done():
            self.closed.set_result(None)

    def fail_all(self, error: MuxError) -> None:
        while self.pending:
            head = self.pending.popleft()
            fut = head.future if type(head) is _Group else head
            if not fut.done():  # type: ignore[union-attr]
                fut.set_exception(error)  # type: ignore[union-attr]


class MuxConnection:
    """A lazily connected, multiplexed connection to one Redis node.

    `send` / `send_many` return futures at once (the command joins this turn's write);
    `call` / `call_many` await them. Cancelling a waiter never desynchronises the stream.
    """

    def __init__(self, options: ConnectOptions) -> None:
        self.options = options
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._buf: list[bytes] = []
        self._queued: list[_Waiter] = []
        self._buffered = 0  # bytes in _buf
        self._flush_scheduled = False
        self._fallback: asyncio.TimerHandle | None = None
        self.writes = 0  # socket writes of calls so far (tests, benchmarks)
        self._failures = 0
        self._retry_at = 0.0
        self._closed = False
        self.connects = 0  # successful connects so far (tests, metrics)

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MuxConnection:
        """A connection for a `redis://`, `rediss://` or `unix://` URL."""
        return cls(ConnectOptions.from_url(url, **overrides))

    @property
    def in_flight(self) -> int:
        """Calls written and not yet answered (including abandoned ones)."""
        return len(self._proto.pending) if self._proto is not None else 0

    @property
    def idle(self) -> bool:
        """Nothing queued, connecting or awaiting a reply: closing it loses nothing."""
        return not (self._queued or self._connecting or self.in_flight)

    @property
    def connected(self) -> bool:
        """A socket is open and its handshake done."""
        return self._proto is not None

    # ------------------------------------------------------------ issuing

    def send(self, *args: Arg) -> asyncio.Future[Any]:
        """Issue one command; the future holds its reply or raises its error."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(encode(args), fut, fut)
        return fut

    def send_many(self, commands: Sequence[Sequence[Arg]]) -> asyncio.Future[list[Any]]:
        """Issue commands back to back (nothing interleaves: ASKING + command is safe).
        The future holds one reply per command, error replies as `ReplyError` values;
        it raises only when the group as a whole failed (NotSent, OutcomeUnknown)."""
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if not commands:
            fut.set_result([])
            return fut
        self._enqueue(b"".join(encode(c) for c in commands), _Group(fut, len(commands)), fut)
        return fut

    async def call(self, *args: Arg) -> Any:
        """Send one command and await its reply (a `ReplyError` is raised)."""
        return await self.send(*args)

    async def call_many(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Send commands as one group and await them all, without MULTI: one reply per
        command, each a value or a `MuxError` (reply errors and a lost connection alike
        are per command, as on a Cluster where a group spans nodes)."""
        try:
            return await self.send_many(commands)
        except MuxError as exc:
            return [exc] * len(commands)

    def _enqueue(self, data: bytes, waiter: _Waiter, fut: asyncio.Future[Any]) -> None:
        if self._closed:
            fut.set_exception(NotSent(f"connection to {self.options.address} is closed"))
            return
        if self._proto is None and self._connecting is None:
            wait = self._retry_at - asyncio.get_running_loop().time()
            if wait > 0:
                fut.set_exception(
                    NotSent(f"{self.options.address}: reconnect backoff, {wait * 1000:.0f} ms")
                )
                return
            self._start_connect()
        self._buf.append(data)
        self._queued.append(waiter)
        self._buffered += len(data)
        proto = self._proto
        if proto is None:
            return  # flushed once connected
        if len(self._queued) >= MAX_BACKLOG or self._buffered >= MAX_BACKLOG_BYTES:
            self._flush()
        elif proto.pending and not self._flush_scheduled:
            # Replies outstanding: held until the next reply arrives (data_received
            # flushes), at the latest HOLD_MAX_S from now.
            if self._fallback is None:
                self._fallback = asyncio.get_running_loop().call_later(HOLD_MAX_S, self._flush)
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._fallback is not None:
            self._fallback.cancel()
            self._fallback = None
        proto = self._proto
        if proto is None or not self._queued:
            return
        assert proto.transport is not None
        buf, queued = self._buf, self._queued
        self._buf, self._queued, self._buffered = [], [], 0
        # Callers that gave up before the write: their commands are never sent at all.
        keep = [i for i, w in enumerate(queued) if not _done(w)]
        if len(keep) != len(queued):
            buf = [buf[i] for i in keep]
            queued = [queued[i] for i in keep]
        if queued:
            proto.transport.write(b"".join(buf))
            proto.pending.extend(queued)
            self.writes += 1

    # ------------------------------------------------------------ connecting

    def _start_connect(self) -> None:
        self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        opts = self.options
        proto: _Protocol | None = None
        try:
            async with asyncio.timeout(opts.connect_timeout_s):
                if opts.path:
                    _, proto = await loop.create_unix_connection(lambda: _Protocol(self), opts.path)
                else:
                    _, proto = await loop.create_connection(
                        lambda: _Protocol(self),
                        opts.host,
                        opts.port,
                        ssl=opts.ssl,
                        server_hostname=opts.host if opts.ssl else None,
                    )
                await self._handshake(proto)
        except asyncio.CancelledError:
            if proto is not None and proto.transport is not None:
                proto.transport.abort()  # closed while connecting: leave no socket behind
            raise
        except (OSError, TimeoutError, MuxError) as exc:
            if proto is not None and proto.transport is not None:
                proto.transport.abort()
            self._failures += 1
            delay = backoff_delay(self._failures, opts.backoff_base_s, opts.backoff_max_s)
            self._retry_at = loop.time() + delay
            self._connecting = None
            self._fail_queued(NotSent(f"connect to {opts.address} failed: {exc!r}"))
            return
        self._failures = 0
        self._connecting = None
        self.connects += 1
        if self._closed:
            assert proto.transport is not None
            proto.transport.close()
            return
        self._proto = proto
        self._flush()

    async def _handshake(self, proto: _Protocol) -> None:
        commands = self.options.handshake()
        assert proto.transport is not None
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        proto.transport.write(b"".join(encode(c) for c in commands))
        proto.pending.append(_Group(fut, len(commands)))
        for command, reply in zip(commands, await fut, strict=True):
            if isinstance(reply, ReplyError):
                # Never let calls run unauthenticated or on the wrong database.
                raise NotSent(f"{command[0]} refused: {reply.text}")

    def _fail_queued(self, error: MuxError) -> None:
        queued, self._buf, self._queued, self._buffered = self._queued, [], [], 0
        if self._fallback is not None:
            self._fallback.cancel()
            self._fallback = None
        for waiter in queued:
            fut = waiter.future if type(waiter) is _Group else waiter
            if not fut.done():  # type: ignore[union-attr]
                fut.set_exception(error)  # type: ignore[union-attr]

    def _lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if self._proto is proto:
            self._proto = None
        why = repr(exc) if exc else "closed"
        proto.fail_all(OutcomeUnknown(f"connection to {self.options.address} lost: {why}"))
        if self._queued and not self._closed and self._connecting is None:
            # Not yet written, so sending them on a new connection is not a resend.
            self._start_connect()

    async def close(self) -> None:
        """Close the socket; calls still waiting fail (NotSent or OutcomeUnknown)."""
        self._closed = True
        self._fail_queued(NotSent(f"connection to {self.options.address} closed"))
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
            self._connecting = None
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
            await proto.closed
