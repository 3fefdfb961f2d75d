"""Client process: one load phase over loopback, its figures printed as one JSON line.

    python -m bench.loadgen '{"kind": "unary", "target": "127.0.0.1:PORT", "concurrency": 8,
                              "seconds": 5, "warmup_s": 1, "max_calls": 1000000, "tag": "u8"}'

Kinds: `ceiling` (constant CanSend), `unary` (CanSend, the mix in bench/mix.py; the
same load drives sendgate and the `limits` peer over gRPC, bench/peer_server.py),
`batch` (CanSendBatch of `batch_size` mix requests). `target` is `127.0.0.1:PORT` or
`unix:///PATH`. Started by bench/run.py, so the load never shares a process (or a GIL)
with a server.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import grpc

from bench import mix
from bench.aioloop import run_in_loop
from bench.driver import Call, Stats, drive
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

DEADLINE_S = 5.0
CEILING_REQUEST = pb.CanSendRequest(sender="s0-1", recipient="r0-1", message_id="m1")


def _tag(spec: dict[str, Any]) -> str:
    # The PID keeps a repeated phase (run.py retries a disturbed one) on fresh accounts
    # and message ids; replays of the earlier attempt would be cheap duplicates.
    return f"{spec.get('tag', '')}{os.getpid()}."


def _grpc_calls(kind: str, stub: Any, spec: dict[str, Any], outcomes: Counter[str]) -> Call:
    tag = _tag(spec)
    size = int(spec.get("batch_size", 100))

    async def ceiling(w: int, i: int) -> int:
        await stub.CanSend(CEILING_REQUEST, timeout=DEADLINE_S)
        return 1

    # Degraded answers (fail_open: Redis missed its budget) are not decisions: nothing
    # was checked or recorded. They are tallied in `outcomes`, not in decisions/s.
    async def unary(w: int, i: int) -> int:
        resp = await stub.CanSend(mix.request(tag, w, i), timeout=DEADLINE_S)
        outcomes[mix.outcome(resp)] += 1
        return 0 if resp.degraded else 1

    async def batch(w: int, i: int) -> int:
        reqs = [mix.request(tag, w, i * size + k) for k in range(size)]
        resp = await stub.CanSendBatch(pb.CanSendBatchRequest(requests=reqs), timeout=DEADLINE_S)
        outcomes.update(mix.outcome(r) for r in resp.responses)
        return sum(1 for r in resp.responses if not r.degraded)

    return {"ceiling": ceiling, "unary": unary, "batch": batch}[kind]


async def _grpc_load(kind: str, spec: dict[str, Any]) -> Stats:
    outcomes: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=20)
        call = _grpc_calls(kind, pb_grpc.SendGateStub(channel), spec, outcomes)
        stats = await _drive(call, spec)
    stats.outcomes = dict(outcomes)
    return stats


def _drive(call: Call, spec: dict[str, Any]) -> Awaitable[Stats]:
    return drive(
        call,
        concurrency=int(spec["concurrency"]),
        seconds=float(spec["seconds"]),
        warmup_s=float(spec.get("warmup_s", 1.0)),
        max_calls=int(spec.get("max_calls", 1_000_000)),
        watch={str(k): int(v) for k, v in spec.get("watch", {}).items()},
    )


async def run(spec: dict[str, Any]) -> Stats:
    return await _grpc_load(str(spec["kind"]), spec)


def main() -> int:
    spec = json.loads(sys.argv[1])
    stats = run_in_loop(lambda: run(spec))
    print(json.dumps(stats.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
