"""The peer over gRPC: what a chat-server team writes in an afternoon with `limits`.

    python -m bench.peer_server --address 127.0.0.1:PORT --redis-url async+redis://H:P
                                [--limit 1000/month]

A grpc.aio server on sendgate's proto and `GRPC_OPTIONS` whose CanSend makes one
`hit()` of the `limits` library's moving-window limiter (limits.aio, redis-py async
storage, hiredis when installed), keyed by the sender, on the same Redis as sendgate:
ALLOW or DENY, no validation, no metrics, no auth. The bench loads it with the same
client and request mix as sendgate, so the ratio compares a gRPC hop plus one Redis
script with a gRPC hop plus one Redis script. A bench-only dependency (`pip install
limits`). Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import grpc

from bench import grpc_serve
from bench.ceiling_server import RESPONSE as ALLOW
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

DENY = pb.CanSendResponse(decision=pb.DENY, reason=pb.MONTHLY_UNREPLIED_LIMIT)


class PeerService(pb_grpc.SendGateServicer):
    def __init__(self, limiter: Any, item: Any) -> None:
        self._hit = limiter.hit
        self._item = item

    async def CanSend(
        self, request: pb.CanSendRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendResponse:
        return ALLOW if await self._hit(self._item, request.sender) else DENY


def _register(ns: argparse.Namespace) -> grpc_serve.Register:
    if not ns.redis_url.startswith("async+redis://127.0.0.1:"):
        raise SystemExit(f"{ns.redis_url}: the bench uses a loopback Redis only")

    def register(server: grpc.aio.Server) -> None:
        # Imported here: only this server needs the `limits` package.
        from limits import parse  # noqa: PLC0415
        from limits.aio.storage import RedisStorage  # noqa: PLC0415
        from limits.aio.strategies import MovingWindowRateLimiter  # noqa: PLC0415

        storage = RedisStorage(ns.redis_url, implementation="redispy")
        # CanSend only; the others stay abstract (grpc answers UNIMPLEMENTED).
        service = PeerService(MovingWindowRateLimiter(storage), parse(ns.limit))  # type: ignore[abstract]
        pb_grpc.add_SendGateServicer_to_server(service, server)

    return register


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--redis-url", required=True, help="async+redis://127.0.0.1:PORT")
    ap.add_argument("--limit", default="1000/month")
    return grpc_serve.main("", _register, ap)


if __name__ == "__main__":
    sys.exit(main())
