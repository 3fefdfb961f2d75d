"""`sendgate functions prune`: delete libraries no sidecar has touched for days.

python -m sendgate.store.functions_cli prune --redis-url redis://host:6379
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sendgate.store.functions import PRUNE_AFTER_DAYS, prune
from sendgate.store.redis_store import make_client


async def _prune(url: str) -> list[str]:
    client = make_client(url, 5.0, 4)
    try:
        return await prune(client)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sendgate functions")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "prune", help=f"delete sendgate_* libraries unused for {PRUNE_AFTER_DAYS} days"
    ).add_argument("--redis-url", required=True)
    ns = parser.parse_args(argv)
    for name in asyncio.run(_prune(ns.redis_url)):
        print(f"deleted {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
