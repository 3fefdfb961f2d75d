"""Ceiling of the Redis client alone: N concurrent EVALSHA of a trivial script through
the multiplexed connection (sendgate.store.mux) and through redis-py's `redis.asyncio`
with hiredis (a pool of 64 connections, as the store uses today).

Prints calls/s at 64 in flight and the p50 latency at 1 in flight for each, on a
redis-server of its own (free loopback port). Short on purpose: `--seconds` per phase.

    .venv/bin/python bench/mux_ceiling.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from bench.aioloop import run_in_loop
from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.store.mux import MuxConnection

# Two commands, as the measurement: the cost is the client, not the script.
SCRIPT = "redis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1])"
Call = Callable[[], Awaitable[Any]]


async def throughput(call: Call, in_flight: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - start)


async def p50_ms(call: Call, seconds: float) -> float:
    samples: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        t = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


async def measure(seconds: float) -> dict[str, dict[str, float]]:
    proc = RedisProcess(port=free_port())
    proc.start()
    try:
        with redis.Redis.from_url(proc.url) as setup:
            sha = setup.script_load(SCRIPT)
        mux = MuxConnection.from_url(proc.url)
        pool = aioredis.BlockingConnectionPool.from_url(proc.url, max_connections=64)
        rpy = aioredis.Redis(connection_pool=pool)
        clients: dict[str, Call] = {
            "mux": lambda: mux.call("EVALSHA", sha, 1, "bench:k"),
            "redis-py": lambda: rpy.evalsha(sha, 1, "bench:k"),
        }
        out: dict[str, dict[str, float]] = {}
        for name, call in clients.items():
            await throughput(call, 64, 0.3)  # warm up: connections opened, caches hot
            out[name] = {
                "calls_per_s_c64": await throughput(call, 64, seconds),
                "p50_ms_c1": await p50_ms(call, seconds),
            }
        await mux.close()
        await rpy.aclose(close_connection_pool=True)
        return out
    finally:
        proc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    results = run_in_loop(lambda: measure(args.seconds))
    for name, r in results.items():
        print(
            f"{name:9} {r['calls_per_s_c64']:9.0f} calls/s at c=64",
            f"  p50 {r['p50_ms_c1']:.3f} ms at c=1",
        )
    ratio = results["mux"]["calls_per_s_c64"] / results["redis-py"]["calls_per_s_c64"]
    print(f"mux / redis-py at c=64: {ratio:.2f}x")


if __name__ == "__main__":
    main()
