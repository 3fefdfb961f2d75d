"""The life of sendgate's function libraries in Redis: load, heartbeat, prune.

Every sidecar loads its library (FUNCTION LOAD REPLACE, on every primary of a
Cluster) and keeps a heartbeat key `sendgate:fnlib:<library>` alive: set at each load
and refreshed hourly while it decides, with a TTL of `PRUNE_AFTER_DAYS`. A library
whose heartbeat has expired has not been loaded or used by any sidecar for that long;
`prune` deletes those (only libraries named `sendgate_*`, never the caller's own).
Deleting one that a forgotten sidecar still calls is not fatal either: its next FCALL
finds the function missing and that sidecar loads its library again.

    python -m sendgate.store.functions_cli prune --redis-url redis://host:6379
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster

from sendgate.store.library import LIBRARY_PREFIX, FunctionLibrary

HEARTBEAT_PREFIX = "sendgate:fnlib:"
PRUNE_AFTER_DAYS = 7
HEARTBEAT_EVERY_S = 3600.0


def heartbeat_key(library: str) -> str:
    return HEARTBEAT_PREFIX + library


async def touch(client: Any, lib: FunctionLibrary, days: int = PRUNE_AFTER_DAYS) -> None:
    """Mark `lib` as in use for the next `days`."""
    await client.set(heartbeat_key(lib.name), 1, px=days * 86_400_000)


async def load(client: Any, lib: FunctionLibrary, days: int = PRUNE_AFTER_DAYS) -> None:
    """FUNCTION LOAD REPLACE `lib` (on every primary of a Cluster) and touch it."""
    # redis-py sends FUNCTION LOAD to every primary of a cluster by itself.
    await client.function_load(lib.source, replace=True)
    await touch(client, lib, days)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _library_names(listing: Any) -> list[str]:
    """Library names from a FUNCTION LIST reply (RESP2 flat pairs or parsed dicts)."""
    names = []
    for entry in listing or []:
        if isinstance(entry, dict):
            fields = {_text(k): v for k, v in entry.items()}
        else:
            fields = {_text(k): v for k, v in zip(entry[::2], entry[1::2], strict=True)}
        names.append(_text(fields["library_name"]))
    return names


async def _on_nodes(client: Any, *command: Any) -> list[tuple[Any, Any]]:
    """Run `command` on each primary (cluster) or on the server; (node, reply) pairs."""
    if isinstance(client, RedisCluster):
        return [
            (node, await client.execute_command(*command, target_nodes=node))
            for node in client.get_primaries()
        ]
    return [(None, await client.execute_command(*command))]


async def prune(client: Any, keep: FunctionLibrary | None = None) -> list[str]:
    """Delete `sendgate_*` libraries whose heartbeat expired; returns their names."""
    deleted: list[str] = []
    listings = await _on_nodes(client, "FUNCTION", "LIST", "LIBRARYNAME", LIBRARY_PREFIX + "*")
    for node, listing in listings:
        for name in _library_names(listing):
            if not name.startswith(LIBRARY_PREFIX) or (keep and name == keep.name):
                continue
            if await client.exists(heartbeat_key(name)):
                continue
            kwargs = {"target_nodes": node} if node is not None else {}
            await client.execute_command("FUNCTION", "DELETE", name, **kwargs)
            deleted.append(name)
    return sorted(set(deleted))
