"""Reads the `sendgate:events` stream for ListEvents (XRANGE with an exclusive start).

It runs on a small client of its own: a reviewer paging through events must never take
a connection the per-message decisions wait for. The stream is one key, so on Redis
Cluster it lives in one slot and the cluster client routes XRANGE there.
(events.py writes the stream through the store; see its docstring for the fields.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.exceptions as rexc
from redis.asyncio.cluster import RedisCluster

from sendgate.domain import LoggedEvent
from sendgate.errors import BackendError
from sendgate.keys import EVENTS_STREAM
from sendgate.store.redis_store import StoreObserver, make_client

# Connections for admin reads; a handful of reviewers at most page at once.
MAX_CONNECTIONS = 4


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def to_event(entry_id: bytes | str, fields: dict[Any, Any]) -> LoggedEvent:
    """A stream entry as a LoggedEvent: `type`, `account`, `at`, and the rest as attributes."""
    eid = _text(entry_id)
    f = {_text(k): _text(v) for k, v in fields.items()}
    kind, account, at = f.pop("type", ""), f.pop("account", ""), f.pop("at", "")
    # Written by events.py as unix ms; the id's own ms is the fallback for odd entries.
    at_ms = int(at) if at.isdigit() else int(eid.partition("-")[0])
    return LoggedEvent(eid, kind, account, at_ms, tuple(sorted(f.items())))


def _backend_error(exc: Exception) -> BackendError:
    if isinstance(exc, TimeoutError | rexc.TimeoutError):
        return BackendError("timeout", "no answer within the budget")
    if isinstance(exc, rexc.ConnectionError | OSError):
        return BackendError("connection", str(exc) or type(exc).__name__)
    return BackendError("response", f"{type(exc).__name__}: {exc}")


class EventStream:
    """XRANGE pages of the event stream; Redis faults become BackendError."""

    def __init__(self, client: Any, observer: StoreObserver | None = None) -> None:
        self._client = client
        self._observer = observer

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout_s: float, observer: StoreObserver | None = None
    ) -> EventStream:
        return cls(make_client(url, connect_timeout_s, MAX_CONNECTIONS), observer)

    async def after(self, after_id: str, count: int, budget_s: float) -> list[LoggedEvent]:
        """Up to `count` entries after `after_id` ("" = from the oldest kept), oldest first."""
        start = f"({after_id}" if after_id else "-"  # "(" makes the start exclusive
        began = time.perf_counter()
        try:
            async with asyncio.timeout(budget_s):
                raw = await self._client.xrange(EVENTS_STREAM, min=start, max="+", count=count)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = _backend_error(exc)
            if self._observer is not None:
                self._observer.redis_error(err.kind)
            raise err from exc
        finally:
            if self._observer is not None:
                self._observer.redis_call(time.perf_counter() - began)
        return [to_event(entry_id, fields) for entry_id, fields in raw]

    async def close(self) -> None:
        if isinstance(self._client, RedisCluster):
            await self._client.aclose()
        else:
            await self._client.aclose(close_connection_pool=True)
