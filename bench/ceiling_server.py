"""The gRPC ceiling: sendgate's proto and server options, handlers that do nothing.

    python -m bench.ceiling_server --address 127.0.0.1:PORT [--address unix:///PATH]

CanSend answers one constant CanSendResponse (shaped like a real ALLOW, so the reply
costs the same to encode); CanSendBatch answers one per request; CanSendStream one
per request, in order, as it reads them. No interceptors, no Redis: what a grpc.aio
server in Python costs per call on this machine, and so the most sendgate could reach
here. Listens on every `--address` (TCP and unix side by side); runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator

import grpc

from bench import grpc_serve
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

    async def CanSendStream(
        self, requests: AsyncIterator[pb.CanSendRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CanSendResponse]:
        async for _ in requests:
            yield RESPONSE


def _register(ns: argparse.Namespace) -> grpc_serve.Register:
    def register(server: grpc.aio.Server) -> None:
        # Three RPCs only; the others stay abstract (grpc answers UNIMPLEMENTED).
        pb_grpc.add_SendGateServicer_to_server(CeilingService(), server)  # type: ignore[abstract]

    return register


if __name__ == "__main__":
    sys.exit(grpc_serve.main(__doc__ or "", _register))
