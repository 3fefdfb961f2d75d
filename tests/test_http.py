"""The HTTP listener on metrics_address: four paths, 404 for every other."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from sendgate.server import SendGateServer


def get(port: int, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of GET `path`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status), resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.headers["Content-Type"], err.read().decode()


async def test_metrics_path_serves_prometheus_text(limit5: SendGateServer) -> None:
    status, kind, body = await asyncio.to_thread(get, limit5.metrics_port, "/metrics")
    assert status == 200
    assert kind.startswith("text/plain; version=")  # the Prometheus text format
    assert "sendgate_decisions_total" in body


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
async def test_probe_paths_answer_ok(limit5: SendGateServer, path: str) -> None:
    assert await asyncio.to_thread(get, limit5.metrics_port, path) == (
        200, "text/plain; charset=utf-8", "ok\n",
    )  # fmt: skip


@pytest.mark.parametrize("path", ["/", "/metricsx", "/metrics/extra", "/health", "/favicon.ico"])
async def test_any_other_path_is_404(limit5: SendGateServer, path: str) -> None:
    status, _, body = await asyncio.to_thread(get, limit5.metrics_port, path)
    assert (status, body) == (404, "not found: try /metrics, /healthz, /readyz or /livez\n")


async def test_each_answer_has_its_own_length(limit5: SendGateServer) -> None:
    """A short answer first must not cut the next one (wsgiref's header list)."""
    port = limit5.metrics_port
    assert (await asyncio.to_thread(get, port, "/livez"))[2] == "ok\n"
    assert (await asyncio.to_thread(get, port, "/nope"))[2].startswith("not found: try /metrics")
    assert (await asyncio.to_thread(get, port, "/healthz"))[2] == "ok\n"
