"""The gRPC ceiling: sendgate's proto and server options, handlers that do nothing.

    python -m bench.ceiling_server --address 127.0.0.1:PORT

CanSend answers one constant CanSendResponse (shaped like a real ALLOW, so the reply
costs the same to encode); CanSendBatch answers one per request. No interceptors, no
Redis: what a grpc.aio server in Python costs per call on this machine, and so the
most sendgate's unary CanSend could reach here. Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import grpc

from bench.aioloop import run_in_loop
from sendgate.server import GRPC_OPTIONS
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

RESPONSE = pb.CanSendResponse(
    decision=pb.ALLOW,
    counted=True,
    usage=pb.Usage(used=12, limit=200, remaining=188, resets_at=1_775_001_600_000),
)


class CeilingService(pb_grpc.SendGateServicer):
    async def CanSend(
        self, request: pb.CanSendRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendResponse:
        return RESPONSE

    async def CanSendBatch(
        self, request: pb.CanSendBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendBatchResponse:
        return pb.CanSendBatchResponse(responses=[RESPONSE] * len(request.requests))


async def serve(address: str) -> None:
    server = grpc.aio.server(options=GRPC_OPTIONS)
    # The ceiling serves two RPCs only; the others stay abstract (grpc answers UNIMPLEMENTED).
    pb_grpc.add_SendGateServicer_to_server(CeilingService(), server)  # type: ignore[abstract]
    server.add_insecure_port(address)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--address", required=True, help="127.0.0.1:PORT")
    ns = ap.parse_args()
    if not ns.address.startswith("127.0.0.1:"):
        ap.error("the ceiling server listens on loopback only")
    run_in_loop(lambda: serve(ns.address))
    return 0


if __name__ == "__main__":
    sys.exit(main())
