"""The lifecycle the bench's own gRPC servers share: listen, serve until SIGTERM, stop.

The ceiling and the `limits` peer are grpc.aio servers with sendgate's proto and
`GRPC_OPTIONS`, on the event loop the sidecar runs (uvloop when installed), so each
differs from the sidecar only in what its handlers do.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable

import grpc

from bench.aioloop import run_in_loop
from sendgate.server import GRPC_OPTIONS

Register = Callable[[grpc.aio.Server], None]


def bench_address(address: str) -> bool:
    """Loopback TCP or a unix socket: the bench never listens anywhere else."""
    return address.startswith(("127.0.0.1:", "unix:"))


async def serve(register: Register, addresses: list[str]) -> None:
    """Serve on every address until SIGTERM or SIGINT, then stop with a short grace."""
    server = grpc.aio.server(options=GRPC_OPTIONS)
    register(server)  # called on the running loop: handlers may open async clients
    for address in addresses:
        server.add_insecure_port(address)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=1)


def main(description: str, register: Callable[[argparse.Namespace], Register],
         ap: argparse.ArgumentParser | None = None) -> int:  # fmt: skip
    """Parse `--address` (repeatable) and any options `ap` adds, then serve."""
    ap = ap or argparse.ArgumentParser(description=description)
    ap.add_argument(
        "--address", action="append", required=True, help="127.0.0.1:PORT or unix:///PATH"
    )
    ns = ap.parse_args()
    for address in ns.address:
        if not bench_address(address):
            ap.error(f"{address}: the bench listens on loopback or a unix socket only")
    run_in_loop(lambda: serve(register(ns), ns.address))
    return 0
