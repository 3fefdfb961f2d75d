"""Quick figures for a running setup: CanSend calls/s and latency, Redis bytes per sender.

    python bench/quick.py [--seconds 5] [--concurrency 1 8 64]

Starts its own redis-server (loopback, free port) and a real `sendgate serve` process,
then drives it from this process over loopback with grpc.aio. Bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

import grpc
import redis

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

T0 = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
MAX_CALLS = 2_000_000


def start_sidecar(redis_url: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sendgate",
            "serve",
            "--redis-url",
            redis_url,
            "--grpc-address",
            f"127.0.0.1:{port}",
            "--metrics-address",
            "127.0.0.1:0",
            "--allow-client-time",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(
            os.environ, SENDGATE_LIMITS__PERSONAL_MONTHLY="1000000", SENDGATE_LOG_LEVEL="ERROR"
        ),
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=20)
    channel.close()
    return proc, f"127.0.0.1:{port}"


async def load(target: str, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    counter = iter(range(MAX_CALLS))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.SendGateStub(channel)

        async def worker(w: int) -> None:
            for i in counter:
                if time.monotonic() > stop:
                    return
                # A realistic mix: new strangers, conversation replies, repeated ids.
                kind = i % 10
                sender = f"s{w}-{i % 500}"
                recipient = f"r{i}" if kind < 5 else f"r{i % 50}"
                mid = f"m{i - 1}" if kind == 9 else f"m{i}"
                req = pb.CanSendRequest(
                    sender=sender, recipient=recipient, message_id=mid, at_unix_ms=T0 + i
                )
                t = time.perf_counter()
                await stub.CanSend(req, timeout=5)
                latencies.append(time.perf_counter() - t)

        t0 = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.monotonic() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=1000)
    return {
        "concurrency": concurrency,
        "calls": len(latencies),
        "calls_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(q[499] * 1000, 3),
        "p99_ms": round(q[989] * 1000, 3),
        "p999_ms": round(q[998] * 1000, 3),
    }


async def memory_per_sender(target: str, r: redis.Redis, senders: int) -> dict[str, object]:
    """Ordinary month: 20 new contacts (5 reply), 60 messages inside conversations."""
    before = int(r.info("memory")["used_memory"])
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.SendGateStub(channel)
        for s in range(senders):
            sender = f"mem-{s}"
            reqs = []
            for k in range(20):
                reqs.append(
                    pb.CanSendRequest(
                        sender=sender,
                        recipient=f"mem-{s}-c{k}",
                        message_id=f"{s}-n{k}",
                        at_unix_ms=T0 + k * 3_600_000,
                    )
                )
            await stub.CanSendBatch(pb.CanSendBatchRequest(requests=reqs))
            for k in range(5):
                await stub.RecordReply(
                    pb.RecordReplyRequest(
                        replier=f"mem-{s}-c{k}", replied_to=sender, at_unix_ms=T0 + 90_000_000
                    )
                )
            reqs = [
                pb.CanSendRequest(
                    sender=sender,
                    recipient=f"mem-{s}-c{k % 5}",
                    message_id=f"{s}-c{k}",
                    at_unix_ms=T0 + 100_000_000 + k,
                )
                for k in range(60)
            ]
            await stub.CanSendBatch(pb.CanSendBatchRequest(requests=reqs))
    after = int(r.info("memory")["used_memory"])
    sample = [k for k in r.scan_iter(match="sg:{mem-7}:*")]
    per_key = {k.decode(): r.memory_usage(k) for k in sample}
    return {
        "senders": senders,
        "bytes_per_sender_incl_recipients": round((after - before) / senders),
        "sender_keys_bytes": per_key,
        "sender_bytes": sum(v or 0 for v in per_key.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--senders", type=int, default=2000)
    ns = ap.parse_args()
    rp = RedisProcess(port=free_port())
    rp.start()
    proc, target = start_sidecar(rp.url)
    try:
        results = [asyncio.run(load(target, c, ns.seconds)) for c in ns.concurrency]
        r = redis.Redis.from_url(rp.url)
        mem = asyncio.run(memory_per_sender(target, r, ns.senders))
        r.close()
    finally:
        proc.terminate()
        proc.wait(20)
        rp.close()
    print(json.dumps({"cansend": results, "memory": mem}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
