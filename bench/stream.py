"""Client process: CanSendStream messages/s over N long-lived streams, as one JSON line.

    python -m bench.stream '{"kind": "mix", "target": "127.0.0.1:PORT", "streams": 4,
                             "seconds": 5, "warmup_s": 1, "max_calls": 1000000}'

Kinds: `mix` (the requests of bench/mix.py, as the unary load sends: sendgate's
decisions) and `ceiling` (one constant request, for the empty streaming handler).
Each stream writes as fast as HTTP/2 flow control lets it and reads answers as they
come; answers arriving in the measured window (after `warmup_s`) are counted, and the
CPU each watched server process used in that window (µs per message too). Started by
bench/run.py; bounded in time and in count.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import grpc

from bench import mix
from bench.aioloop import run_in_loop
from bench.driver import cpu_snapshot, cpu_window
from bench.loadgen import CEILING_REQUEST
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    streams = int(spec["streams"])
    per_stream = max(1, int(spec.get("max_calls", 1_000_000)) // streams)
    tag = f"{spec.get('tag', 'st-')}{os.getpid()}."
    constant = spec["kind"] == "ceiling"
    watch = {str(k): int(v) for k, v in spec.get("watch", {}).items()}
    warmup_s = float(spec.get("warmup_s", 1.0))
    measure_from = time.perf_counter() + warmup_s
    stop = measure_from + float(spec["seconds"])
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    counted = 0
    cpu_start: dict[str, float | None] = {}
    loop = asyncio.get_running_loop()
    loop.call_later(warmup_s, lambda: cpu_start.update(cpu_snapshot(watch)))

    async def one(stub: pb_grpc.SendGateStub, k: int) -> None:
        nonlocal counted

        async def requests() -> AsyncIterator[pb.CanSendRequest]:
            for i in range(per_stream):
                if time.perf_counter() >= stop:
                    return
                yield CEILING_REQUEST if constant else mix.request(tag, k, i)

        try:
            async for resp in stub.CanSendStream(requests()):
                if time.perf_counter() >= measure_from:
                    outcomes[mix.outcome(resp)] += 1
                    counted += 0 if resp.degraded else 1
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] += 1

    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=20)
        stub = pb_grpc.SendGateStub(channel)
        await asyncio.gather(*(one(stub, k) for k in range(streams)))
    # The window closes when the last answer is read (the streams drain after `stop`).
    elapsed = max(1e-9, time.perf_counter() - measure_from)
    cpu, per_message = cpu_window(cpu_start, cpu_snapshot(watch), elapsed, counted)
    return {
        "streams": streams,
        "messages": counted,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(counted / elapsed, 1),
        "outcomes": dict(outcomes),
        "errors": dict(errors),
        "cpu_percent": cpu,
        "cpu_us_per_decision": per_message,
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> int:
    spec = json.loads(sys.argv[1])
    print(json.dumps(run_in_loop(lambda: run(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
