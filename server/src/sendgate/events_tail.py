"""`sendgate events`: print the enforcement stream at a terminal, optionally following it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import redis

from sendgate.keys import EVENTS_STREAM

_BLOCK_MS = 5000


def _line(entry_id: bytes, fields: dict[bytes, bytes], as_json: bool) -> str:
    f = {k.decode(): v.decode() for k, v in fields.items()}
    if as_json:
        return json.dumps({"id": entry_id.decode(), **f})
    at = datetime.fromtimestamp(int(f.pop("at", "0")) / 1000, tz=UTC).isoformat()
    kind, account = f.pop("type", "?"), f.pop("account", "?")
    rest = " ".join(f"{k}={v}" for k, v in f.items())
    return f"{at} {kind:<20} {account} {rest}".rstrip()


def tail(url: str, count: int, follow: bool, as_json: bool, max_waits: int = 10**9) -> int:
    """Print the last `count` events, then (with `follow`) new ones as they arrive."""
    # The socket must outwait a blocking XREAD.
    client: Any = redis.Redis.from_url(url, socket_timeout=_BLOCK_MS / 1000 + 10)
    try:
        recent = list(reversed(client.xrevrange(EVENTS_STREAM, count=count))) if count else []
        last = recent[-1][0] if recent else b"$"
        for entry_id, fields in recent:
            print(_line(entry_id, fields, as_json), flush=True)
        for _ in range(max_waits if follow else 0):
            got = client.xread({EVENTS_STREAM: last}, block=_BLOCK_MS, count=100)
            for _, entries in got or ():
                for entry_id, fields in entries:
                    print(_line(entry_id, fields, as_json), flush=True)
                    last = entry_id
    except redis.RedisError as exc:
        print(f"sendgate: redis: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0
