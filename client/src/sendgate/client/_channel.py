"""How a client reaches the sidecar: target, TLS, token, retry policy (no I/O).

Both clients build a `ChannelPlan` here and differ only in opening it with `grpc` or
`grpc.aio`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import grpc

from sendgate.client._core import DEFAULT_TARGET, DEFAULT_TIMEOUT_S, Settings, check_timeout

PemSource = bytes | str | os.PathLike[str]  # bytes: PEM contents; str or path: a file

SENDGATE = "sendgate.v1.SendGate"
ADMIN = "sendgate.v1.SendGateAdmin"

# Only calls that are safe to send twice are retried. CanSend and CanSendBatch carry a
# message_id (required), so a replay is answered `duplicate` and never counts twice;
# the Get/List calls read. Every other call writes (RecordReply refunds, RecordFeedback
# counts a report, admin writes, CheckRegistration stores identifiers): never retried.
# The stream is not retried either: it is long-lived and gRPC would only replay its
# first messages.
RETRYABLE_METHODS: dict[str, tuple[str, ...]] = {
    SENDGATE: ("CanSend", "CanSendBatch", "GetUsage"),
    ADMIN: ("GetAccount", "ListExceptions", "ListEvents"),
}

_RETRY_POLICY = {
    "maxAttempts": 3,
    "initialBackoff": "0.02s",
    "maxBackoff": "0.2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}

SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [
                    {"service": service, "method": method}
                    for service, methods in RETRYABLE_METHODS.items()
                    for method in methods
                ],
                "retryPolicy": _RETRY_POLICY,
            }
        ]
    }
)

# Bearer tokens are RFC 6750 b64token characters: no spaces or control characters,
# which would otherwise let a token smuggle a second header line.
_TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """Everything needed to open the channel, and what every call must carry."""

    target: str
    credentials: Any  # grpc.ChannelCredentials, or None for an insecure channel
    options: tuple[tuple[str, Any], ...]
    # Sent with every call: the token when the channel cannot carry call credentials
    # (an insecure or an injected channel).
    metadata: tuple[tuple[str, str], ...]


def _pem(value: PemSource | None, name: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"{name}: file not found: {path}")
    return path.read_bytes()


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    """The authorization metadata for `token` (none for None)."""
    if token is None:
        return ()
    if not _TOKEN.match(token):
        raise ValueError("token: empty, or contains spaces or characters not allowed")
    return (("authorization", f"Bearer {token}"),)


_REVIEWER = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


def reviewer_metadata(reviewer: str | None) -> tuple[tuple[str, str], ...]:
    """`x-sendgate-reviewer` for `reviewer` (printable, at most 128 characters)."""
    if reviewer is None:
        return ()
    if not _REVIEWER.match(reviewer) or not reviewer.isascii():
        raise ValueError("reviewer: 1 to 128 printable ASCII characters")
    return (("x-sendgate-reviewer", reviewer),)


def plan(
    target: str,
    *,
    token: str | None,
    credentials: Any,
    root_certificates: PemSource | None,
    certificate_chain: PemSource | None,
    private_key: PemSource | None,
    tls: bool,
    server_name: str | None,
) -> ChannelPlan:
    """Validate the connection options and decide how to open the channel."""
    metadata = bearer(token)
    files = (root_certificates, certificate_chain, private_key)
    if credentials is not None and (any(f is not None for f in files) or tls):
        raise ValueError("credentials: give it, or root_certificates/certificate_chain/"
                         "private_key/tls, not both")  # fmt: skip
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("certificate_chain and private_key go together (mutual TLS)")
    if credentials is None and (tls or any(f is not None for f in files)):
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_pem(root_certificates, "root_certificates"),
            private_key=_pem(private_key, "private_key"),
            certificate_chain=_pem(certificate_chain, "certificate_chain"),
        )
    options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", SERVICE_CONFIG),
    ]
    if server_name is not None:
        if credentials is None:
            raise ValueError("server_name: only with TLS")
        options.append(("grpc.ssl_target_name_override", server_name))
    if credentials is not None and token is not None:
        # On TLS the token rides as call credentials, which gRPC never sends in clear.
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
        metadata = ()
    return ChannelPlan(target, credentials, tuple(options), metadata)


class ConnectOptions(TypedDict, total=False):
    """How every client connects; all optional.

    token: sent as `authorization: Bearer <token>` on every call.
    credentials: a grpc.ChannelCredentials (TLS), instead of the next four.
    root_certificates, certificate_chain, private_key: PEM bytes, or a file path;
        any of them turns TLS on; the last two (together) make it mutual TLS.
    tls: TLS with the system's root certificates (when no file is given).
    server_name: the name the server's certificate must carry, when the target's
        host is not it (for example a bare IP).
    channel: an open grpc (or grpc.aio) channel to use instead; the caller closes it.
    timeout: the default deadline of every call in seconds (None: none).
    reviewer: admin tools: the person acting, sent as `x-sendgate-reviewer` on every
        call and recorded with the events of admin actions.
    """

    token: str | None
    credentials: Any
    root_certificates: PemSource | None
    certificate_chain: PemSource | None
    private_key: PemSource | None
    tls: bool
    server_name: str | None
    channel: Any
    timeout: float | None
    reviewer: str | None


def setup(
    target: str | None, opts: ConnectOptions, fail_open: bool
) -> tuple[ChannelPlan | None, Any, Settings]:
    """The plan of the channel to open (None with an injected channel), the injected
    channel, and the client's per-call settings."""
    unknown = set(opts) - set(ConnectOptions.__annotations__)
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    timeout = check_timeout(opts.get("timeout", DEFAULT_TIMEOUT_S))
    token = opts.get("token")
    channel = opts.get("channel")
    if channel is not None:
        tls_args = ("credentials", "root_certificates", "certificate_chain", "private_key",
                    "tls", "server_name")  # fmt: skip
        given = [k for k in tls_args if opts.get(k) not in (None, False)]
        if target is not None or given:
            raise ValueError(f"channel: give it alone, not with {', '.join(given) or 'target'}")
        extra = reviewer_metadata(opts.get("reviewer"))
        return None, channel, Settings(timeout, fail_open, bearer(token) + extra)
    p = plan(
        target if target is not None else DEFAULT_TARGET,
        token=token,
        credentials=opts.get("credentials"),
        root_certificates=opts.get("root_certificates"),
        certificate_chain=opts.get("certificate_chain"),
        private_key=opts.get("private_key"),
        tls=opts.get("tls", False),
        server_name=opts.get("server_name"),
    )
    extra = reviewer_metadata(opts.get("reviewer"))
    return p, None, Settings(timeout, fail_open, p.metadata + extra)
