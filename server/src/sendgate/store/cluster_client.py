"""A redis-py cluster client that closes every connection it ever opened.

redis-py's asyncio `RedisCluster.aclose()` disconnects the nodes it still lists, but
connections of nodes dropped by a topology refresh, or left behind by a cancelled
call, stay open until garbage collection, which then warns about them after the event
loop is gone. A sidecar that restarts its client on failover would leak sockets the
same way. This subclass registers each connection as it is created and closes the
ones still open on `aclose()`.

It serves start-up checks, function pruning and ListEvents only: decisions go through
the multiplexed connection (`sendgate.store.mux`), so no burst of calls reaches
redis-py's per-node pools and they need no in-flight bound.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection


class TrackedRedisCluster(RedisCluster):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        manager = self.nodes_manager
        opened: set[Connection] = set()
        self._opened = opened
        base: type[Connection] = manager.connection_kwargs["connection_class"]

        class _Tracked(base):  # type: ignore[valid-type,misc]
            async def _connect(self) -> None:
                await super()._connect()
                # Forget closed connections: the set stays as small as the number of
                # open sockets, however often nodes come and go.
                for old in [c for c in opened if not c.is_connected]:
                    opened.discard(old)
                opened.add(self)

        # Nodes discovered later take their class from the manager's kwargs; the
        # startup nodes were built before this ran.
        manager.connection_kwargs["connection_class"] = _Tracked
        for node in manager.startup_nodes.values():
            node.connection_class = _Tracked

    async def replica_infos(self, section: str) -> list[dict[str, Any]]:
        """INFO `section` of every connected replica. redis-py routes to primaries only,
        so replicas (each may become a primary on failover) are asked directly."""
        nodes: dict[str, dict[str, Any]] = await self.cluster_nodes()
        infos = []
        for address, node in nodes.items():
            if "slave" not in node.get("flags", "") or not node.get("connected"):
                continue
            host, _, port = address.rpartition(":")
            replica = ClusterNode(host, int(port), **self.nodes_manager.connection_kwargs)
            try:
                infos.append(await replica.execute_command("INFO", section))
            finally:
                await replica.disconnect()
        return infos

    @property
    def open_connections(self) -> int:
        """Connections this client opened that are still connected."""
        return sum(1 for c in self._opened if c.is_connected)

    async def aclose(self) -> None:
        await super().aclose()
        await asyncio.gather(
            *(c.disconnect() for c in self._opened if c.is_connected), return_exceptions=True
        )
        self._opened.clear()
