"""Addresses the sidecar listens on, checked before anything else starts.

gRPC core reports a taken port on stderr itself (a raw C++ log line, not JSON) and
then raises a RuntimeError that does not say why. Binding a plain socket first gives
one clear error naming the address, before the embedded Redis or anything else starts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat

from sendgate.config import unix_path
from sendgate.errors import StartupError


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (IPv6 hosts in brackets) → (host, port); a unix address → (it, 0)."""
    if address.startswith("unix:"):
        return address, 0
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def bind_error(exc: OSError) -> str:
    """Why a bind failed, in words a person acts on."""
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (is another sendgate running?)"
    return (exc.strerror or str(exc)).lower()


def probe_unix(address: str, setting: str) -> None:
    """A unix socket path: its folder must exist; a socket file nobody answers on is a
    leftover of a killed sidecar and is removed (gRPC cannot bind over it)."""
    path = unix_path(address)
    folder = os.path.dirname(path) or "/"
    if not os.path.isdir(folder):
        raise StartupError(f"cannot listen on {address} ({setting}): no folder {folder}")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise StartupError(f"cannot listen on {address} ({setting}): {path} is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
    raise StartupError(f"cannot listen on {address} ({setting}): {bind_error_in_use()}")


def bind_error_in_use() -> str:
    return bind_error(OSError(errno.EADDRINUSE, "in use"))


def probe(address: str, setting: str) -> None:
    """Raise StartupError naming `address` and its `setting` unless it can be bound now.

    Like gRPC, one bindable resolved address is enough. SO_REUSEADDR as gRPC and the
    HTTP server set it, so a port left in TIME_WAIT is not reported as taken.
    """
    if address.startswith("unix:"):
        probe_unix(address, setting)
        return
    host, port = split_address(address)
    if port == 0:  # the kernel picks a free port
        return
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {address} ({setting}): {exc.strerror}") from exc
    first: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                first = first or exc
                continue
            return
    assert first is not None  # getaddrinfo returns at least one address or raises
    raise StartupError(f"cannot listen on {address} ({setting}): {bind_error(first)}") from first


def probe_all(grpc_address: str, metrics_address: str) -> None:
    """Both listeners' addresses, and not the same port twice."""
    probe(grpc_address, "grpc_address")
    probe(metrics_address, "metrics_address")
    g, m = split_address(grpc_address), split_address(metrics_address)
    if g[1] != 0 and g[1] == m[1] and (g[0] == m[0] or "0.0.0.0" in (g[0], m[0])):
        raise StartupError(
            f"cannot listen on {metrics_address} (metrics_address): same port as grpc_address"
        )
