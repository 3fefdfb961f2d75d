"""Redis Cluster over multiplexed connections: one `MuxConnection` per primary.

Calls are routed by the slot of the key the caller names (crc16 with hash tags, as
redis-py computes it). The slot map comes from `CLUSTER SLOTS` and is refreshed on
change: after a MOVED (the map is patched at once, the refresh runs in the background)
and after a connection error. Redirects are safe to follow because a MOVED, ASK,
TRYAGAIN or CLUSTERDOWN reply means the command did not run; a lost connection means
the outcome is unknown, so that call is never resent. New nodes connect lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from redis.crc import key_slot

from sendgate.errors import ConfigError
from sendgate.store.mux.connection import Arg, MuxConnection
from sendgate.store.mux.errors import MuxError, NotSent, OutcomeUnknown, ReplyError
from sendgate.store.mux.options import ConnectOptions

__all__ = ["SLOTS", "MuxCluster", "slot_of"]

SLOTS = 16384
_REDIRECTS = frozenset({"MOVED", "ASK"})
_BUSY_CLUSTER = frozenset({"TRYAGAIN", "CLUSTERDOWN"})
_log = logging.getLogger(__name__)


def slot_of(key: str | bytes) -> int:
    """The Cluster slot of `key` (only the `{hash tag}` counts when there is one)."""
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def _address(endpoint: bytes | str) -> tuple[str, int]:
    host, _, port = (endpoint.decode() if isinstance(endpoint, bytes) else endpoint).rpartition(":")
    return host, int(port)


class MuxCluster:
    """Routes calls to the primary that owns their key's slot.

    `call(*args, key=...)` and `call_many(commands, keys)` mirror `MuxConnection`.
    Redirects and TRYAGAIN/CLUSTERDOWN retries are bounded by `max_attempts`; the
    caller's deadline (`asyncio.timeout`) bounds the waits between them.
    """

    def __init__(
        self,
        seeds: Sequence[ConnectOptions],
        *,
        max_attempts: int = 5,
        retry_base_s: float = 0.01,
    ) -> None:
        if not seeds:
            raise ConfigError("redis_url", "a cluster needs at least one node")
        self._seeds = list(seeds)
        self._template = seeds[0]
        self._max_attempts = max_attempts
        self._retry_base_s = retry_base_s
        self._slots: list[str | None] = [None] * SLOTS
        self._nodes: dict[str, MuxConnection] = {}
        self._refreshing: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()  # held until done (no GC mid-close)
        # Completed topology refreshes and redirects followed (tests, metrics).
        self.refreshes = self.moved = self.asked = self.busy_retries = 0

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MuxCluster:
        """A cluster client seeded by a `redis+cluster://` or `rediss+cluster://` URL."""
        if "+cluster://" not in url:
            raise ConfigError("redis_url", "a cluster URL starts with redis+cluster://")
        options = ConnectOptions.from_url(url.replace("+cluster", "", 1), **overrides)
        if options.db:
            raise ConfigError("redis_url", "Redis Cluster has database 0 only")
        return cls([options])

    # ------------------------------------------------------------ topology

    @property
    def primaries(self) -> list[str]:
        """Addresses of the primaries in the current slot map."""
        return sorted({a for a in self._slots if a is not None})

    def node(self, address: str) -> MuxConnection:
        """The connection to `address` (`host:port`), created on first use."""
        conn = self._nodes.get(address)
        if conn is None:
            conn = self._nodes[address] = MuxConnection(self._template.at(*_address(address)))
        return conn

    def address_for(self, key: str | bytes) -> str | None:
        """The primary that serves `key` according to the current map."""
        return self._slots[slot_of(key)]

    async def refresh(self) -> None:
        """Reload the slot map (one refresh at a time; concurrent callers share it)."""
        if self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
            self._refreshing.add_done_callback(self._refreshed)
        # Shielded: a caller that times out must not cancel the refresh for the others.
        await asyncio.shield(self._refreshing)

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        self._refreshing = None
        if not task.cancelled() and task.exception() is not None:
            _log.warning("cluster topology refresh failed: %s", task.exception())

    def refresh_soon(self) -> None:
        """Start a refresh in the background (after MOVED or a connection error)."""
        if self._refreshing is None:
            with contextlib.suppress(Exception):
                self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
                self._refreshing.add_done_callback(self._refreshed)

    async def _refresh(self) -> None:
        seeds = [s.address for s in self._seeds]
        candidates = [*self.primaries, *(a for a in seeds if a not in self.primaries)]
        errors: list[str] = []
        for address in candidates:
            try:
                async with asyncio.timeout(self._template.connect_timeout_s):
                    reply = await self.node(address).call("CLUSTER", "SLOTS")
            except (MuxError, TimeoutError) as exc:
                errors.append(f"{address}: {exc}")
                continue
            self._apply(address, reply)
            self.refreshes += 1
            return
        raise NotSent(f"no cluster node answered CLUSTER SLOTS ({'; '.join(errors)})")

    def _apply(self, asked: str, reply: list[Any]) -> None:
        slots: list[str | None] = [None] * SLOTS
        for start, end, primary, *_replicas in reply:
            host = primary[0].decode() if primary[0] else ""
            if host in ("", "?"):  # the node we asked does not know its own address
                host = _address(asked)[0]
            address = f"{host}:{int(primary[1])}"
            slots[int(start) : int(end) + 1] = [address] * (int(end) - int(start) + 1)
        self._slots = slots
        live = set(slots)
        for address in [a for a, c in self._nodes.items() if a not in live and c.idle]:
            # A node that owns no slot (gone, demoted) is closed once nothing waits on it.
            task = asyncio.get_running_loop().create_task(self._nodes.pop(address).close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # ------------------------------------------------------------ calls

    async def call(self, *args: Arg, key: str | bytes) -> Any:
        """Run one command on the primary of `key`'s slot; raises its error."""
        return await self._route(slot_of(key), args)

    async def call_many(
        self, commands: Sequence[Sequence[Arg]], keys: Sequence[str | bytes]
    ) -> list[Any]:
        """Run commands (command i on the slot of keys[i]), one group per primary, all
        groups at once. One result per command: a value or a `MuxError`."""
        if self._slots[0] is None:
            await self.refresh()
        slots = [slot_of(k) for k in keys]
        by_node: dict[str, list[int]] = {}
        for i, slot in enumerate(slots):
            by_node.setdefault(self._slots[slot] or "", []).append(i)
        results: list[Any] = [None] * len(commands)
        groups = [
            (idx, self.node(addr).call_many([commands[i] for i in idx]))
            for addr, idx in by_node.items()
            if addr
        ]
        for idx, replies in zip(
            [g[0] for g in groups], await asyncio.gather(*(g[1] for g in groups)), strict=True
        ):
            for i, reply in zip(idx, replies, strict=True):
                results[i] = reply
        for i, reply in enumerate(results):
            retry = reply is None  # no node known for that slot: not sent
            retry |= isinstance(reply, ReplyError) and reply.prefix in _REDIRECTS | _BUSY_CLUSTER
            retry |= isinstance(reply, NotSent)
            if isinstance(reply, OutcomeUnknown):
                self.refresh_soon()
            if retry:
                # Did not run: route it alone, in request order, with redirects followed.
                try:
                    results[i] = await self._route(slots[i], commands[i], first=reply)
                except MuxError as exc:
                    results[i] = exc
        return results

    async def _route(self, slot: int, args: Sequence[Arg], first: Any = None) -> Any:
        asking: str | None = None
        refreshed = False
        for attempt in range(self._max_attempts):
            error = first if attempt == 0 and isinstance(first, MuxError) else None
            if error is None:
                address = asking or self._slots[slot]
                if address is None:
                    await self.refresh()
                    address = self._slots[slot]
                    if address is None:
                        raise NotSent(f"no primary serves slot {slot}")
                conn = self.node(address)
                try:
                    if asking is None:
                        return await conn.send(*args)
                    # ASKING holds for the next command on this connection only; a group
                    # is written back to back, so nothing can come between.
                    reply = (await conn.send_many([("ASKING",), args]))[1]
                    if not isinstance(reply, ReplyError):
                        return reply
                    error = reply
                except MuxError as exc:
                    error = exc
            asking = None
            last = attempt + 1 == self._max_attempts  # no waiting for an attempt never made
            if isinstance(error, ReplyError) and error.prefix in _REDIRECTS:
                _, _, target = error.text.split(" ")
                if error.prefix == "MOVED":
                    self.moved += 1
                    self._slots[slot] = target  # use it at once; fetch the rest meanwhile
                    self.refresh_soon()
                else:
                    self.asked += 1
                    asking = target
            elif isinstance(error, ReplyError) and error.prefix in _BUSY_CLUSTER and not last:
                self.busy_retries += 1
                await asyncio.sleep(self._retry_base_s * 2**attempt)
            elif isinstance(error, NotSent) and not refreshed and not last:
                # The node may be gone (failover): learn the new map, try once more.
                refreshed = True
                await self.refresh()
            else:
                if isinstance(error, OutcomeUnknown):
                    self.refresh_soon()
                raise error
        assert error is not None
        raise error

    async def close(self) -> None:
        """Close every node connection and stop a running refresh."""
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(BaseException):
                await self._refreshing
        nodes, self._nodes = self._nodes, {}
        await asyncio.gather(*(c.close() for c in nodes.values()), *self._closing)
