"""CanSendStream throughput: decisions/s over N long-lived streams, beside unary CanSend.

    python bench/stream.py [--seconds 5] [--streams 1 4]

Starts its own redis-server and `sendgate serve` on loopback; the client is this
process (one grpc.aio channel). Bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator

import grpc

from bench.quick import start_sidecar
from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

T0 = 1772409600000  # 2026-03-02
MAX_MESSAGES = 5_000_000


async def run_streams(target: str, streams: int, seconds: float) -> dict[str, float]:
    done = 0
    stop = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.SendGateStub(channel)

        async def one(k: int) -> None:
            nonlocal done

            async def requests() -> AsyncIterator[pb.CanSendRequest]:
                for i in range(MAX_MESSAGES):
                    if time.monotonic() > stop:
                        return
                    yield pb.CanSendRequest(
                        sender=f"st{k}-{i % 500}", recipient=f"r{k}-{i}",
                        message_id=f"m{i}", at_unix_ms=T0 + i,
                    )  # fmt: skip

            async for _ in stub.CanSendStream(requests()):
                done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(one(k) for k in range(streams)))
        elapsed = time.monotonic() - t0
    return {"streams": streams, "decisions": done, "decisions_per_s": round(done / elapsed)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    ns = ap.parse_args()
    rp = RedisProcess(port=free_port())
    rp.start()
    proc, target = start_sidecar(rp.url)
    try:
        results = [asyncio.run(run_streams(target, n, ns.seconds)) for n in ns.streams]
    finally:
        proc.terminate()
        proc.wait(20)
        rp.close()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
