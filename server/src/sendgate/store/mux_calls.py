"""The store's commands over the multiplexed connection (`sendgate.store.mux`).

Standalone Redis and Redis Cluster look the same from here: one command routed by its
first key, or a group of commands (one result per command, a value or a `MuxError`).
What this layer does not do is decide what may be rerun; `redis_store` does, from the
error types: `NotSent` and a missing function did not run, `OutcomeUnknown` and a
timeout may have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from sendgate.store.mux import Arg, MuxCluster, MuxConnection, open_mux

__all__ = ["Command", "MuxCalls"]

Command = tuple[Arg, ...]
# After a failed connect, calls fail fast (NotSent) until the next attempt. The circuit
# breaker already keeps a dead Redis from being hammered, so the backoff stays short:
# a long one would outlast the breaker's cool-down and delay the recovery after Redis
# comes back, and a chat server's quick retry (same message_id) would find it still
# running after a single lost handshake.
BACKOFF_BASE_S = 0.001
BACKOFF_MAX_S = 0.1


class MuxCalls:
    """One multiplexed connection per Redis node, shared by every call in flight."""

    def __init__(self, mux: MuxConnection | MuxCluster) -> None:
        self._mux = mux
        self.cluster = isinstance(mux, MuxCluster)

    @classmethod
    def from_url(cls, url: str, *, connect_timeout_s: float) -> MuxCalls:
        return cls(
            open_mux(
                url,
                connect_timeout_s=connect_timeout_s,
                backoff_base_s=BACKOFF_BASE_S,
                backoff_max_s=BACKOFF_MAX_S,
            )
        )

    @property
    def mux(self) -> MuxConnection | MuxCluster:
        return self._mux

    def call(self, command: Command, key: str | bytes) -> Awaitable[Any]:
        """Run `command` on the node of `key`; awaiting it raises its error (a
        `MuxError`). Standalone: the connection's future itself, no coroutine around it
        (every decision makes this call)."""
        if self.cluster:
            return cast(MuxCluster, self._mux).call(*command, key=key)
        return cast(MuxConnection, self._mux).send(*command)

    async def call_many(
        self, commands: Sequence[Command], keys: Sequence[str | bytes]
    ) -> list[Any]:
        """Run `commands` (command i on the node of keys[i]) in one round trip per node;
        one result per command, a value or a `MuxError`, never raised."""
        if isinstance(self._mux, MuxCluster):
            return await self._mux.call_many(commands, keys)
        return await self._mux.call_many(commands)

    async def on_primaries(self, *command: Arg) -> None:
        """Run `command` on every primary (FUNCTION LOAD); the first error is raised."""
        if isinstance(self._mux, MuxConnection):
            await self._mux.call(*command)
            return
        # The node that missed a function may be a primary since a failover: learn the
        # current map before loading on each node of it.
        await self._mux.refresh()
        nodes = [self._mux.node(a) for a in self._mux.primaries]
        await asyncio.gather(*(n.call(*command) for n in nodes))

    async def ping(self) -> None:
        """PING the node, or every primary of a cluster: decisions need them all."""
        if isinstance(self._mux, MuxConnection):
            await self._mux.call("PING")
            return
        if not self._mux.primaries:
            await self._mux.refresh()
        try:
            await asyncio.gather(*(self._mux.node(a).call("PING") for a in self._mux.primaries))
        except Exception:
            self._mux.refresh_soon()  # a primary gone: its replica may have taken over
            raise

    async def close(self) -> None:
        await self._mux.close()
