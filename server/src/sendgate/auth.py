"""Per-service bearer tokens, checked by a grpc.aio interceptor.

SendGate and SendGateAdmin each have their own token (`authorization: Bearer …`),
compared in constant time. A missing token is UNAUTHENTICATED, a wrong one
PERMISSION_DENIED. A service with no token configured is open to loopback peers only.
With mutual TLS and `tls.allowed_client_names`, a client certificate whose names are
not listed is PERMISSION_DENIED first. Health and reflection stay open (probes carry
no credentials).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

log = logging.getLogger("sendgate.auth")

_LOOPBACK_PEERS = ("ipv4:127.", "ipv6:[::1]", "unix:")


def is_loopback(peer: str) -> bool:
    return peer.startswith(_LOOPBACK_PEERS)


def peer_names(context: grpc.aio.ServicerContext) -> set[str]:
    """The verified client certificate's common name and DNS names (mTLS)."""
    auth = context.auth_context() or {}
    names: set[str] = set()
    for prop in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth.get(prop, ()):
            names.add(value.decode() if isinstance(value, bytes) else str(value))
    return names


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self, tokens: dict[str, str], allowed_client_names: frozenset[str] = frozenset()
    ) -> None:
        """`tokens`: full service name → token ("" = loopback only). With mTLS,
        `allowed_client_names` limits which client certificates are served at all."""
        self._tokens = {k: v.encode() for k, v in tokens.items()}
        self._allowed = allowed_client_names
        self._cache: dict[tuple[str, int], grpc.RpcMethodHandler] = {}
        for service, token in tokens.items():
            if not token:
                log.warning(
                    "no token configured: service open to loopback peers only",
                    extra={"service": service},
                )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        service = details.method.lstrip("/").partition("/")[0]
        token = self._tokens.get(service)
        handler = await continuation(details)
        # Health and reflection stay open: probes carry neither tokens nor certificates.
        if handler is None or token is None:
            return handler
        key = (details.method, id(handler.unary_unary or handler.stream_stream))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._wrap(service, token, handler, self._allowed)
        return cached

    @staticmethod
    def _wrap(
        service: str, token: bytes, handler: grpc.RpcMethodHandler, allowed: frozenset[str]
    ) -> grpc.RpcMethodHandler:
        """The handler behind a per-call check (built once per method)."""

        async def check(context: grpc.aio.ServicerContext) -> None:
            if allowed and not (peer_names(context) & allowed):
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, "client certificate not allowed"
                )
            if not token:
                if not is_loopback(context.peer()):
                    await context.abort(
                        grpc.StatusCode.PERMISSION_DENIED,
                        "no token configured: only loopback peers are served",
                    )
                return
            given = b""
            for key, value in context.invocation_metadata() or ():
                if key == "authorization":
                    raw = value.encode() if isinstance(value, str) else bytes(value)
                    if raw.startswith(b"Bearer "):
                        given = raw[len(b"Bearer ") :]
            if not given:
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, f"{service} needs a bearer token"
                )
            if not hmac.compare_digest(given, token):
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"wrong token for {service}")

        if handler.stream_stream is not None:
            stream = handler.stream_stream

            async def checked_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                await check(context)
                async for response in stream(requests, context):
                    yield response

            return grpc.stream_stream_rpc_method_handler(
                checked_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        inner = handler.unary_unary

        async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(context)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            checked,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
