"""The HTTP listener on metrics_address: /metrics, /healthz, /readyz, /livez, else 404.

/metrics   Prometheus text format
/healthz   200 when Redis was prepared and answers, else 503 (readiness)
/readyz    the same as /healthz (the name Kubernetes examples use)
/livez     200 while the process runs: Redis being down is no reason to restart it
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from sendgate.errors import StartupError
from sendgate.listen import bind_error
from sendgate.metrics import Metrics

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _text() -> list[tuple[str, str]]:
    # A new list each time: wsgiref adds Content-Length to the list it is given, and a
    # shared list would cut every later answer to the first one's length.
    return [("Content-Type", "text/plain; charset=utf-8")]


def http_app(metrics: Metrics, ready: Callable[[], bool]) -> WSGIApp:
    """The WSGI app behind the listener; `ready` says whether Redis is usable."""
    prom = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return prom(environ, start_response)  # type: ignore[no-any-return]
        if path in ("/healthz", "/readyz"):
            if ready():
                start_response("200 OK", _text())
                return [b"ok\n"]
            start_response("503 Service Unavailable", _text())
            return [b"redis unavailable\n"]
        if path == "/livez":
            start_response("200 OK", _text())
            return [b"ok\n"]
        start_response("404 Not Found", _text())
        return [b"not found: try /metrics, /healthz, /readyz or /livez\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


class MetricsServer:
    """The HTTP listener, bound at construction (so a taken port fails start-up at once),
    served from a daemon thread after start()."""

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        address = f"{host}:{port}"
        try:
            self._httpd = make_server(
                host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {address} (metrics_address): {bind_error(exc)}"
            ) from exc
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="sendgate-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
