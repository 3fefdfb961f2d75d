"""A real Prometheus (Debian's `prometheus`) on loopback scrapes a running sidecar; the
decisions are queried back through its HTTP API."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import pytest

from sendgate.embedded_redis import free_port
from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import ServerFactory, acct


def query(port: int, promql: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success"
    return body["data"]["result"]  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_prometheus_scrapes_decisions(server_factory: ServerFactory, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is needed (scripts/test.sh installs it)"
    limit5: SendGateServer = await server_factory()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limit5.grpc_port}") as ch:
        stub = pb_grpc.SendGateStub(ch)
        for i in range(3):
            req = pb.CanSendRequest(sender=acct("s"), recipient="r", message_id=f"p{i}")
            await stub.CanSend(req)
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "sendgate",
                "static_configs": [{"targets": [f"127.0.0.1:{limit5.metrics_port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the loop below awaits
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        result: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                result = await asyncio.to_thread(
                    query, port, 'sum(sendgate_decisions_total{job="sendgate"})'
                )
            except OSError:
                result = []
            if result:
                break
            await asyncio.sleep(0.5)
        assert result, "prometheus never scraped sendgate_decisions_total"
        value = float(result[0]["value"][1])  # type: ignore[index]
        assert value >= 3
        up = await asyncio.to_thread(query, port, 'up{job="sendgate"}')
        assert up and up[0]["value"][1] == "1"  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(20)
