"""Multiplexed Redis connections for the decision path (issue 12).

    MuxConnection   one node (TCP, unix socket, TLS): send/call, send_many/call_many
    MuxCluster      Redis Cluster: one MuxConnection per primary, slot routing,
                    MOVED/ASK/TRYAGAIN/CLUSTERDOWN handled, topology refreshed
    ConnectOptions  address, TLS context, AUTH (user), SELECT, CLIENT SETNAME, timeouts
    open_mux(url)   the right one of the two for a sendgate `redis_url`

Errors (all `sendgate.errors.BackendError`): `ReplyError` (`.prefix`), `NotSent`
(did not run, safe to resend), `OutcomeUnknown` (may have run; retry only with the
same idempotency key). See `errors` for the tree.
"""

from __future__ import annotations

from typing import Any

from sendgate.store.mux.cluster import MuxCluster, slot_of
from sendgate.store.mux.connection import Arg, MuxConnection
from sendgate.store.mux.errors import MuxError, NotSent, OutcomeUnknown, ReplyError
from sendgate.store.mux.options import ConnectOptions, tls_context

__all__ = [
    "Arg",
    "ConnectOptions",
    "MuxCluster",
    "MuxConnection",
    "MuxError",
    "NotSent",
    "OutcomeUnknown",
    "ReplyError",
    "open_mux",
    "slot_of",
    "tls_context",
]


def open_mux(url: str, **overrides: Any) -> MuxConnection | MuxCluster:
    """A cluster client for `redis+cluster://` / `rediss+cluster://` URLs, else a single
    connection; `overrides` are `ConnectOptions` fields (connect_timeout_s, ssl, …).
    Nothing connects until the first call."""
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        return MuxCluster.from_url(url, **overrides)
    return MuxConnection.from_url(url, **overrides)
