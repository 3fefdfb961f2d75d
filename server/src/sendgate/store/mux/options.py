"""Where and how a multiplexed connection connects: address, TLS, AUTH, SELECT.

URLs are read by redis-py's own parser, so a URL means the same to this connection as
to the redis-py client it replaces (`redis://`, `rediss://`, `unix://`, with
`ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs`, `ssl_check_hostname`,
`client_name` as query arguments).
"""

from __future__ import annotations

import dataclasses
import ssl
from dataclasses import dataclass
from typing import Any

from redis.asyncio.connection import SSLConnection, parse_url

from sendgate.errors import ConfigError

__all__ = ["ConnectOptions", "tls_context"]

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def tls_context(
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    cert_reqs: str = "required",
    check_hostname: bool = False,
) -> ssl.SSLContext:
    """A client TLS context: trust `ca_file` (else the system store), present
    `cert_file`/`key_file` when Redis asks for a client certificate.

    Hostnames are not checked by default, as redis-py does: Redis certificates are often
    issued for a service name, not the address the sidecar dials.
    """
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = check_hostname and cert_reqs == "required"
    if cert_reqs not in _CERT_REQS:
        raise ConfigError("redis_url", f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}")
    ctx.verify_mode = _CERT_REQS[cert_reqs]
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file or None)
    return ctx


@dataclass(frozen=True)
class ConnectOptions:
    """Everything needed to open (and reopen) one connection to one Redis node."""

    host: str = "127.0.0.1"
    port: int = 6379
    # A unix socket path; when set, host and port are ignored.
    path: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: ssl.SSLContext | None = None
    client_name: str | None = None
    connect_timeout_s: float = 1.0
    # After a failed connect, calls fail fast (NotSent) for a while: the delay doubles
    # per consecutive failure from backoff_base_s up to backoff_max_s.
    backoff_base_s: float = 0.05
    backoff_max_s: float = 2.0

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> ConnectOptions:
        """Options for a `redis://`, `rediss://` or `unix://` URL; `overrides` win."""
        parsed: dict[str, Any] = dict(parse_url(url))
        tls = None
        if parsed.get("connection_class") is SSLConnection:
            tls = tls_context(
                ca_file=parsed.get("ssl_ca_certs"),
                cert_file=parsed.get("ssl_certfile"),
                key_file=parsed.get("ssl_keyfile"),
                cert_reqs=str(parsed.get("ssl_cert_reqs") or "required"),
                check_hostname=str(parsed.get("ssl_check_hostname", "")).lower()
                in ("1", "true", "yes"),
            )
        fields: dict[str, Any] = {
            "host": parsed.get("host") or "127.0.0.1",
            "port": int(parsed.get("port") or 6379),
            "path": parsed.get("path") or "",
            "db": int(parsed.get("db") or 0),
            "username": parsed.get("username"),
            "password": parsed.get("password"),
            "ssl": tls,
            "client_name": parsed.get("client_name"),
        }
        fields.update(overrides)
        return cls(**fields)

    def at(self, host: str, port: int) -> ConnectOptions:
        """The same options for another node (Cluster: credentials and TLS are shared)."""
        return dataclasses.replace(self, host=host, port=port, path="")

    @property
    def address(self) -> str:
        """`host:port` or the socket path: the node's name in logs and slot maps."""
        return self.path or f"{self.host}:{self.port}"

    def handshake(self) -> list[tuple[str | int, ...]]:
        """Commands a new connection sends, and sees answered, before any call."""
        commands: list[tuple[str | int, ...]] = []
        if self.password is not None:
            user = (self.username,) if self.username else ()
            commands.append(("AUTH", *user, self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        if self.client_name:
            commands.append(("CLIENT", "SETNAME", self.client_name))
        # One answer before any call is written: a socket the server drops at once (a
        # client certificate refused after a TLS 1.3 handshake) fails calls as not sent.
        return commands or [("PING",)]
