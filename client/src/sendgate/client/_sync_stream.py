"""CanSendStream for the blocking client: pipelined, per-message deadlines, fail-open.

gRPC reads the request iterator on its own thread, so the input is shared under a
lock, and a watchdog thread cancels the call when the oldest unanswered request is
late. With fail_open, a failed stream answers its unanswered requests ALLOW
(`sidecar_unavailable`) and the next message opens a new stream, so a sidecar restart
costs a few local answers, not the caller's loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import grpc

from sendgate.client._calls import Sendable, SendOptions, send_pb
from sendgate.client._core import Settings, StreamClock
from sendgate.client._errors import SIDECAR_DOWN, map_rpc_error, stream_deadline
from sendgate.client._results import CanSendResult

_END: Any = object()


class _Source:
    """The caller's messages, read by one thread at a time; a message read by a
    stream that has died meanwhile is kept for the next one."""

    def __init__(self, messages: Iterable[Sendable]) -> None:
        self._it = iter(messages)
        self.lock = threading.Lock()
        self.carry: list[Sendable] = []

    def take(self) -> Any:  # Sendable or _END; call with `lock` held
        return self.carry.pop() if self.carry else next(self._it, _END)


class _Attempt:
    """One CanSendStream call."""

    def __init__(self, timeout: float | None) -> None:
        self.clock = StreamClock(timeout)
        self.cond = threading.Condition()
        self.dead = False
        self.timed_out = False
        self.error: BaseException | None = None

    def requests(self, first: Sendable, source: _Source, opts: SendOptions) -> Iterator[Any]:
        m: Any = first
        while True:
            try:
                req = send_pb(m, opts)
            except (TypeError, ValueError) as exc:  # raised on gRPC's thread: keep it
                self.error = exc
                return
            with self.cond:
                if self.dead:
                    source.carry.append(m)
                    return
                self.clock.sent()
                self.cond.notify_all()
            yield req
            with source.lock:
                m = source.take()
                if m is _END:
                    return
                with self.cond:
                    if self.dead:
                        source.carry.append(m)
                        return

    def answered(self) -> None:
        with self.cond:
            self.clock.answered()
            self.cond.notify_all()

    def end(self) -> int:
        """Mark the call over; the number of requests left unanswered."""
        with self.cond:
            self.dead = True
            self.cond.notify_all()
            return self.clock.pending

    def watch(self, call: Any) -> None:
        with self.cond:
            while not self.dead:
                wait = self.clock.wait_s()
                if wait is not None and wait <= 0:
                    self.timed_out = True
                    call.cancel()
                    return
                self.cond.wait(wait)


def can_send_stream(
    stub: Any,
    messages: Iterable[Sendable],
    timeout: float | None,
    settings: Settings,
    opts: SendOptions,
) -> Iterator[CanSendResult]:
    source = _Source(messages)
    while True:
        with source.lock:
            first = source.take()
        if first is _END:
            return
        attempt = _Attempt(timeout)
        call = stub.CanSendStream(
            attempt.requests(first, source, opts), metadata=settings.metadata or None
        )
        watchdog = None
        if timeout is not None:
            watchdog = threading.Thread(target=attempt.watch, args=(call,), daemon=True)
            watchdog.start()
        try:
            for resp in call:
                attempt.answered()
                yield CanSendResult.from_pb(resp)
        except grpc.RpcError as exc:
            late = attempt.timed_out and timeout is not None
            err = stream_deadline(timeout or 0) if late else map_rpc_error(exc)
            unanswered = attempt.end()
            if not (settings.fail_open and isinstance(err, SIDECAR_DOWN)):
                raise err from exc
            for _ in range(unanswered):
                yield CanSendResult.fail_open()
            continue
        finally:
            attempt.end()
            call.cancel()
            if watchdog is not None:
                watchdog.join()
        if attempt.error is not None:
            raise attempt.error
        return
