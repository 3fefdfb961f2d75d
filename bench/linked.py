"""Linked accounts at scale: bytes per registration and the cost of a ban that links
many accounts (issue 13). Loopback only, its own redis-server, bounded in size.

    .venv/bin/python -m bench.linked [--accounts 10000] [--registrations 2000]

Bytes: `registrations` accounts each register with 3 identifiers of their own (device,
payment, network): MEMORY USAGE (SAMPLES 0) of every index key (sgr:{…}) and every
account's `rid` hash, divided by the registrations. Ban: `accounts` accounts register
on one shared device, one of them is banned; the ban's time and the Redis commands it
ran (INFO commandstats before and after, FCALLs counted apart), then a retried ban (it
must link nobody) and the unban that lifts them all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import redis

from sendgate.config import load_settings
from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

T0 = 1_773_144_000_000  # 2026-03-10 12:00 UTC
MAX_ACCOUNTS = 200_000  # bounded: the bench must fit a shared laptop
CONCURRENCY = 64


def _commands(r: redis.Redis) -> dict[str, int]:
    stats = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: after[k] - before.get(k, 0) for k in after}
    return {k: v for k, v in sorted(out.items()) if v > 0 and k != "info"}


async def _register_all(sg: pb_grpc.SendGateStub, items: list[tuple[str, list[str]]]) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(account: str, ids: list[str]) -> None:
        async with sem:
            await sg.CheckRegistration(
                pb.CheckRegistrationRequest(account=account, identifiers=ids, at_unix_ms=T0)
            )

    await asyncio.gather(*(one(a, ids) for a, ids in items))


def _bytes(r: redis.Redis, accounts: list[str]) -> dict[str, Any]:
    index = sum(int(r.memory_usage(k, samples=0) or 0) for k in r.scan_iter("sgr:*", 1000))
    rid = sum(int(r.memory_usage(f"sg:{{{a}}}:rid", samples=0) or 0) for a in accounts)
    n = len(accounts)
    return {
        "registrations": n, "identifiers_each": 3,
        "index_bytes_per_registration": round(index / n, 1),
        "account_rid_bytes_per_registration": round(rid / n, 1),
        "total_bytes_per_registration": round((index + rid) / n, 1),
    }  # fmt: skip


async def run(accounts: int, registrations: int) -> dict[str, Any]:
    accounts = min(accounts, MAX_ACCOUNTS)
    proc = RedisProcess(port=free_port())
    proc.start()
    server = SendGateServer(
        load_settings(
            None, redis_url=proc.url, grpc_address="127.0.0.1:0", metrics_address="127.0.0.1:0",
            allow_client_time=True, ban_evasion={"hmac_key": "bench-key"},
            redis={"timeout_ms": 30_000},
        )
    )  # fmt: skip
    await server.start()
    r = redis.Redis.from_url(proc.url)
    out: dict[str, Any] = {}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
            sg, admin = pb_grpc.SendGateStub(ch), pb_grpc.SendGateAdminStub(ch)
            own = [f"solo-{i}" for i in range(registrations)]
            await _register_all(
                sg, [(a, [f"device:d-{a}", f"payment:p-{a}", f"network:n-{a}"]) for a in own]
            )
            out["bytes"] = _bytes(r, own)
            crowd = [f"crowd-{i}" for i in range(accounts)]
            t = time.perf_counter()
            await _register_all(sg, [(a, ["device:shared", f"payment:p-{a}"]) for a in crowd])
            out["register_s"] = round(time.perf_counter() - t, 2)
            steps: tuple[tuple[str, Callable[[int], Awaitable[Any]]], ...] = (
                ("ban", lambda at: admin.BanAccount(
                    pb.BanAccountRequest(account=crowd[0], reason="bench", at_unix_ms=at))),
                ("ban_retried", lambda at: admin.BanAccount(
                    pb.BanAccountRequest(account=crowd[0], reason="bench", at_unix_ms=at))),
                ("unban", lambda at: admin.UnbanAccount(
                    pb.UnbanAccountRequest(account=crowd[0], at_unix_ms=at))),
            )  # fmt: skip
            for step, call in steps:
                before = _commands(r)
                t = time.perf_counter()
                await call(T0 + 60_000)
                seconds = time.perf_counter() - t
                cmds = _delta(before, _commands(r))
                out[step] = {
                    "seconds": round(seconds, 3),
                    "redis_commands": sum(cmds.values()),
                    "fcalls": cmds.get("fcall", 0) + cmds.get("fcall_ro", 0),
                    "by_command": cmds,
                }
            counter = server.metrics.flags_raised.labels("linked_to_banned")
            linked = counter._value.get()
            out["linked_accounts"] = int(linked)
            out["accounts_on_device"] = accounts
    finally:
        r.close()
        await server.stop(0)
        proc.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--registrations", type=int, default=2000)
    ns = ap.parse_args()
    print(json.dumps(asyncio.run(run(ns.accounts, ns.registrations)), indent=2))


if __name__ == "__main__":
    main()
