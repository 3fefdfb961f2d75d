"""Auth and per-RPC metrics, wrapped once around each method at registration.

grpc.aio server interceptors run `intercept_service` on every call and each adds a
coroutine layer; two of them (auth, metrics) cost more per call than the metrics
themselves. Here the generated `add_*Servicer_to_server` functions register into a
`Collector`, every method handler is wrapped once by `wrap_handler` (auth check, then
the timed handler), and the wrapped handlers go to the real server. Handlers never
touch these metrics. Streaming RPCs get the same `grpc_server_*` series as unary ones
(started when the stream opens, handled when it ends) plus per-message counters.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from sendgate import reviewer as who
from sendgate.auth import TokenCheck
from sendgate.metrics import Metrics


@dataclass
class Collector:
    """Stands in for a grpc server while a generated `add_*_to_server` runs."""

    services: dict[str, dict[str, grpc.RpcMethodHandler]] = field(default_factory=dict)

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        """The generic handler duplicates the registered one; keep only the latter."""

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self.services[service] = dict(handlers)


def register(
    server: grpc.aio.Server,
    add: Callable[[Any, Any], None],
    servicer: Any,
    metrics: Metrics,
    check: TokenCheck | None,
    *,
    reviewer: bool = False,
) -> None:
    """`add(servicer, server)` (a generated function), with every method wrapped.
    `reviewer`: the calls name who acts (admin service; see sendgate.reviewer)."""
    collector = Collector()
    add(servicer, collector)
    for service, handlers in collector.services.items():
        wrapped = {
            m: wrap_handler(service, m, h, metrics, check, reviewer=reviewer)
            for m, h in handlers.items()
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, wrapped),))
        server.add_registered_method_handlers(service, wrapped)


def _status(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> str:
    code: grpc.StatusCode | None = context.code()
    return str((code or default).name)


def wrap_handler(
    service: str,
    method: str,
    handler: grpc.RpcMethodHandler,
    metrics: Metrics,
    check: TokenCheck | None,
    *,
    reviewer: bool = False,
) -> grpc.RpcMethodHandler:
    """One handler doing auth (when `check`), timing and counting around `handler`."""
    kind = "bidi_stream" if handler.stream_stream is not None else "unary"
    labels = (kind, service, method)
    started = metrics.grpc_started.labels(*labels)
    seconds = metrics.grpc_seconds.labels(*labels)
    by_code: dict[str, Any] = {}  # grpc_code → child counter: labels() takes a lock per call

    def handled(code: str) -> None:
        child = by_code.get(code)
        if child is None:
            child = by_code[code] = metrics.grpc_handled.labels(*labels, code)
        child.inc()

    # The unary and stream wrappers repeat their few timing lines on purpose: this is the
    # per-call path, and a shared context manager would cost a layer on every call.
    if handler.stream_stream is not None:
        stream = handler.stream_stream
        received = metrics.grpc_msg_received.labels(*labels)
        sent = metrics.grpc_msg_sent.labels(*labels)

        async def counted(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
            async for request in requests:
                received.inc()
                yield request

        async def wrapped_stream(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            started.inc()
            start = time.perf_counter()
            code = "OK"
            try:
                if check is not None:
                    await check(context)
                async for response in stream(counted(requests), context):
                    sent.inc()
                    yield response
                code = _status(context, grpc.StatusCode.OK)
            except BaseException:
                code = _status(context, grpc.StatusCode.UNKNOWN)
                raise
            finally:
                seconds.observe(time.perf_counter() - start)
                handled(code)

        return grpc.stream_stream_rpc_method_handler(
            wrapped_stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_unary is None:
        raise TypeError(f"{service}/{method}: only unary and bidi RPCs are served")
    inner = handler.unary_unary

    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started.inc()
        start = time.perf_counter()
        code = "OK"
        try:
            if check is not None:
                await check(context)
            if reviewer:
                who.current.set(who.from_metadata(context.invocation_metadata()))
            response = await inner(request, context)
            if (c := context.code()) is not None:
                code = c.name
            return response
        except BaseException:
            code = _status(context, grpc.StatusCode.UNKNOWN)
            raise
        finally:
            seconds.observe(time.perf_counter() - start)
            handled(code)

    return grpc.unary_unary_rpc_method_handler(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
