"""The empty handler plus one multiplexed Redis round trip: the step between the gRPC
ceiling and sendgate.

    python -m bench.ladder_server --address 127.0.0.1:PORT --redis-url redis://127.0.0.1:P

CanSend awaits one `PING` on sendgate's multiplexed connection (`sendgate.store.mux`),
then answers the ceiling's constant response. What this costs over the empty handler
is the price of suspending a call on a Redis reply (the loop's extra turn, the socket
write and read, the reply parsing); what sendgate costs over this is its own work per
decision (validation, the guard, the function call's arguments and reply, metrics).
"""

from __future__ import annotations

import argparse
import sys

import grpc

from bench import grpc_serve
from bench.ceiling_server import RESPONSE
from sendgate.store.mux import MuxConnection
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc


class LadderService(pb_grpc.SendGateServicer):
    def __init__(self, mux: MuxConnection) -> None:
        self._mux = mux

    async def CanSend(
        self, request: pb.CanSendRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendResponse:
        await self._mux.call("PING")
        return RESPONSE


def _register(ns: argparse.Namespace) -> grpc_serve.Register:
    def register(server: grpc.aio.Server) -> None:
        # One RPC only; the others stay abstract (grpc answers UNIMPLEMENTED).
        service = LadderService(MuxConnection.from_url(ns.redis_url))  # type: ignore[abstract]
        pb_grpc.add_SendGateServicer_to_server(service, server)

    return register


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--redis-url", required=True)
    sys.exit(grpc_serve.main(__doc__ or "", _register, ap))
