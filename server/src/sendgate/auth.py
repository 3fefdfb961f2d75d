"""Per-service bearer tokens, checked once per call by the method wrapper (rpc_wrap).

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


# The per-call check of one service: aborts the call, or returns when it may go on.
TokenCheck = Callable[[grpc.aio.ServicerContext], Awaitable[None]]


def warn_open(tokens: dict[str, str]) -> None:
    """Say once at start-up which services are open to loopback peers only."""
    for service, token in tokens.items():
        if not token:
            log.warning(
                "no token configured: service open to loopback peers only",
                extra={"service": service},
            )


def token_check(
    service: str, token: str, allowed_client_names: frozenset[str] = frozenset()
) -> TokenCheck:
    """The check for `service` ("" token = loopback peers only). With mTLS,
    `allowed_client_names` limits which client certificates are served at all."""
    expected = token.encode()

    async def check(context: grpc.aio.ServicerContext) -> None:
        if allowed_client_names and not (peer_names(context) & allowed_client_names):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "client certificate not allowed")
        if not expected:
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
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{service} needs a bearer token")
        if not hmac.compare_digest(given, expected):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"wrong token for {service}")

    return check
