"""Per-RPC metrics (grpc_server_*) from a grpc.aio server interceptor.

py-grpc-prometheus only supports the sync server, so this is our own. Handlers
never touch these metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from sendgate.metrics import Metrics


def _kind(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics
        # One wrapped handler per method, built on its first call: wrapping on every
        # call cost more than the metrics themselves.
        self._cache: dict[tuple[str, int], grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler  # streaming RPCs (health Watch, reflection) are not timed
        key = (details.method, id(handler.unary_unary))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._wrap(details.method, handler)
        return cached

    def _wrap(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service, _, method = full_method.lstrip("/").rpartition("/")
        labels = (_kind(handler), service, method)
        started = self._m.grpc_started.labels(*labels)
        seconds = self._m.grpc_seconds.labels(*labels)
        handled = self._m.grpc_handled
        inner = handler.unary_unary

        async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started.inc()
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                response = await inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except Exception:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                seconds.observe(time.perf_counter() - start)
                handled.labels(*labels, code.name).inc()

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
