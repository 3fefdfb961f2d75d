"""The server's lifecycle: check the ports, serve HTTP and gRPC, start or wait for Redis, stop.

Shutdown order (grpc examples): health NOT_SERVING → server.stop(grace) → close
Redis → stop the embedded Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    NoPermissionError,
    RedisClusterException,
    RedisError,
    ResponseError,
)

from sendgate import ban_key, listen, rpc_wrap
from sendgate.admin import Admin
from sendgate.auth import token_check, warn_open
from sendgate.breaker import CircuitBreaker
from sendgate.config import Settings
from sendgate.embedded_redis import RedisProcess
from sendgate.errors import BackendError, StartupError
from sendgate.events import EventSink
from sendgate.events_feed import EventFeed
from sendgate.events_stream import EventStream
from sendgate.gate import Gate
from sendgate.guard import Guard
from sendgate.http_endpoints import MetricsServer, http_app
from sendgate.listen import split_address
from sendgate.metrics import Metrics
from sendgate.service import SendGateAdminService, SendGateService
from sendgate.store.library import build as build_library
from sendgate.store.redis_store import RedisStore
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

log = logging.getLogger("sendgate.server")

SENDGATE = pb.DESCRIPTOR.services_by_name["SendGate"].full_name
ADMIN = pb.DESCRIPTOR.services_by_name["SendGateAdmin"].full_name
# Always SERVING while the process runs: a liveness probe must not restart the
# sidecar because Redis is down (readiness uses "" and the service names).
LIVENESS = "sendgate.liveness"
# Redis answered and said no: waiting will not help, so start-up fails at once.
_REFUSALS = (AuthenticationError, AuthenticationWrongNumberOfArgsError, NoPermissionError)
# Not there (yet), or busy: worth another try.
_WAITABLE = (ConnectionError, OSError, TimeoutError, RedisError, RedisClusterException)

GRPC_OPTIONS = [
    # A second process must not silently share our port.
    ("grpc.so_reuseport", 0),
    # A batch of 1,000 requests is well under 1 MiB; refuse anything far larger.
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.max_send_message_length", 4 * 1024 * 1024),
    ("grpc.max_metadata_size", 16 * 1024),
    ("grpc.max_concurrent_streams", 1000),
    # Keepalive: ping idle clients, and enforce a floor on client pings (a client that
    # pings more often than every 10 s gets GOAWAY after 3 strikes).
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 3),
    ("grpc.keepalive_permit_without_calls", 1),
]
# RPCs handled at once; more are refused with RESOURCE_EXHAUSTED instead of queueing.
MAX_CONCURRENT_RPCS = 10_000


def _credentials(s: Settings) -> grpc.ServerCredentials:
    """Server TLS credentials; with a client CA, clients must present a certificate."""
    key = Path(s.tls.key_file).read_bytes()
    cert = Path(s.tls.cert_file).read_bytes()
    ca = Path(s.tls.client_ca_file).read_bytes() if s.tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


class SendGateServer:
    """One sidecar: gRPC server, metrics listener, Redis store, optional embedded Redis."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.embedded: RedisProcess | None = None
        self.store: RedisStore | None = None
        self.event_sink: EventSink | None = None
        self.gate: Gate | None = None
        self.admin: Admin | None = None
        self.guard: Guard | None = None
        self.health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._metrics_server: MetricsServer | None = None
        self._event_stream: EventStream | None = None
        self.events: EventFeed | None = None
        # Set once both ports listen (health answers), possibly before Redis is ready.
        self.listening = asyncio.Event()
        self._monitor: asyncio.Task[None] | None = None
        self._ready = False
        self._redis_error = ""
        self._stopping = asyncio.Event()
        # Set when the server must stop by itself (a Redis that came up unusable after a
        # degraded start); `fatal_error` says why. The CLI then exits 1.
        self.failed = asyncio.Event()
        self.fatal_error: StartupError | None = None
        self.grpc_port = 0
        self.metrics_port = 0

    @property
    def redis_url(self) -> str:
        return self.embedded.url if self.embedded else self.settings.redis_url

    @property
    def grpc_target(self) -> str:
        """Where clients reach this sidecar (the bound port when 0 was asked for)."""
        address = self.settings.grpc_address
        if address.startswith("unix:"):
            return address
        return f"{split_address(address)[0]}:{self.grpc_port}"

    async def start(self) -> None:
        """Start everything, or raise StartupError with what went wrong.

        Order: check both addresses (nothing started yet, so a taken port is one clear
        error), listen on HTTP, start the embedded Redis, serve gRPC (health answers
        NOT_SERVING), then wait for Redis: probes see the sidecar while it waits.
        """
        s = self.settings
        listen.probe_all(s.grpc_address, s.metrics_address)
        try:
            host, port = split_address(s.metrics_address)
            self._metrics_server = MetricsServer(host, port, http_app(self.metrics, self.ready))
            self.metrics_port = self._metrics_server.port
            self._metrics_server.start()
            await self._start_embedded()
            self._build()
            await self._start_grpc()
            self.listening.set()
            await self._wait_for_redis()
        except BaseException:
            await self.stop(0)
            raise
        assert self.store is not None
        await self._set_serving(self.store.prepared)
        self._monitor = asyncio.create_task(self._watch_redis(), name="sendgate-redis-health")
        self._monitor.add_done_callback(self._watcher_ended)
        degraded = not self.store.prepared
        (log.warning if degraded else log.info)(
            "sendgate serving",
            extra={
                "grpc_address": self.grpc_target,
                "metrics_address": f"{split_address(s.metrics_address)[0]}:{self.metrics_port}",
                "redis": "embedded" if self.embedded else "external",
                # Redis not prepared yet: decisions follow failure_mode, health NOT_SERVING.
                "degraded": degraded,
                "failure_mode": s.failure_mode,
                "enforce": s.enforce,
                "allow_client_time": s.allow_client_time,
            },
        )

    async def _start_embedded(self) -> None:
        s = self.settings
        if s.redis_url:
            return
        self.embedded = RedisProcess(data_dir=s.embedded_redis_dir or None)
        await asyncio.to_thread(self.embedded.start)
        log.info(
            "embedded redis started",
            extra={"redis_url": self.embedded.url, "pid": self.embedded.pid,
                   "redis_server": self.embedded.executable},
        )  # fmt: skip

    def _build(self) -> None:
        """The store (no connection yet) and everything that works through it."""
        s = self.settings
        self.store = RedisStore.from_url(
            self.redis_url,
            connect_timeout_s=s.redis.connect_timeout_ms / 1000,
            max_connections=s.redis.max_connections,
            observer=self.metrics,
            one_call=s.redis.one_call_per_message,
            # Built from this configuration now, so prepare() loads it at start-up.
            library=build_library(s),
        )
        self._event_stream = EventStream.from_url(
            self.redis_url, connect_timeout_s=s.redis.connect_timeout_ms / 1000,
            observer=self.metrics,
        )  # fmt: skip
        self.guard = Guard(
            s.redis.timeout_ms / 1000,
            CircuitBreaker(s.redis.breaker_failures, s.redis.breaker_open_ms / 1000),
        )
        budget = s.redis.timeout_ms / 1000
        # Decisions queue their events (never waiting, never the breaker's business);
        # admin actions write theirs before answering.
        self.event_sink = EventSink(self.store, self.metrics, s.events_max_len, budget)
        admin_sink = EventSink(
            self.store, self.metrics, s.events_max_len, budget, background=False,
            stamp_reviewer=True,
        )  # fmt: skip
        self.gate = Gate(s, self.store, self.guard, self.event_sink, self.metrics)
        key = ban_key.resolve(
            s.ban_evasion.hmac_key.get_secret_value(),
            embedded=self.embedded is not None,
            data_dir=s.embedded_redis_dir,
        )
        self.admin = Admin(
            self.gate, self.store, self.guard, admin_sink, key,
            frozenset(k.lower() for k in s.ban_evasion.strong_kinds),
            retention_ms=s.ban_evasion.registration_retention_days * 86_400_000,
            velocity_kinds=frozenset(k.lower() for k in s.ban_evasion.velocity_kinds),
            velocity_threshold=s.ban_evasion.velocity_threshold,
        )  # fmt: skip
        self.events = EventFeed(self._event_stream, self.guard, self.event_sink.flush)

    async def _wait_for_redis(self) -> None:
        s = self.settings
        if await self._prepare_store(s.redis.startup_wait_ms / 1000):
            return
        if self.embedded is not None or not s.redis.start_degraded:
            raise StartupError(f"redis unreachable at start-up: {self._redis_error}")
        # Serving degraded beats crash-looping: the chat server beside us can start, and
        # decisions follow failure_mode exactly as in an outage that starts later.
        log.error(
            "redis unreachable at start-up: serving degraded decisions until it answers",
            extra={"error": self._redis_error, "failure_mode": s.failure_mode},
        )

    async def _prepare_store(self, wait_s: float) -> bool:
        """Check Redis's eviction policy and load the scripts, retrying for `wait_s`.

        False if Redis never answered; StartupError if it answered and cannot be used.
        """
        assert self.store is not None
        s = self.settings
        budget = max(1.0, 2 * s.redis.connect_timeout_ms / 1000)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                async with asyncio.timeout(budget):
                    await self.store.prepare(allow_evicting=s.allow_evicting_redis)
                return True
            except _REFUSALS as exc:
                raise StartupError(f"redis refused to prepare sendgate: {exc}") from exc
            except _WAITABLE as exc:
                if isinstance(exc, ResponseError) and "unknown command" in str(exc).lower():
                    raise StartupError(f"redis refused to prepare sendgate: {exc}") from exc
                error = str(exc) or type(exc).__name__
                if error != self._redis_error:  # each new reason once, not every attempt
                    log.warning("waiting for redis", extra={"error": error})
                self._redis_error = error
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.5)

    async def _start_grpc(self) -> None:
        s = self.settings
        assert self.gate is not None
        assert self.admin is not None
        assert self.events is not None
        tokens = {
            SENDGATE: s.auth.sendgate_token.get_secret_value(),
            ADMIN: s.auth.admin_token.get_secret_value(),
        }
        warn_open(tokens)
        names = frozenset(s.tls.allowed_client_names)
        # No interceptors: auth and metrics are wrapped once around each method
        # (rpc_wrap), a coroutine layer less per call than two interceptors.
        server = grpc.aio.server(options=GRPC_OPTIONS, maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS)
        rpc_wrap.register(
            server,
            pb_grpc.add_SendGateServicer_to_server,
            SendGateService(self.gate, self.admin, s.allow_client_time),
            self.metrics,
            token_check(SENDGATE, tokens[SENDGATE], names),
        )
        rpc_wrap.register(
            server,
            pb_grpc.add_SendGateAdminServicer_to_server,
            SendGateAdminService(self.admin, self.events, s.allow_client_time),
            self.metrics,
            token_check(ADMIN, tokens[ADMIN], names),
            reviewer=True,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SENDGATE, ADMIN, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        self._server = server
        try:
            if s.tls.cert_file:
                self.grpc_port = server.add_secure_port(s.grpc_address, _credentials(s))
            else:
                self.grpc_port = server.add_insecure_port(s.grpc_address)
        except RuntimeError as exc:
            # Taken since probe_all looked (gRPC core said why on stderr already).
            raise StartupError(f"cannot listen on {s.grpc_address} (grpc_address): {exc}") from exc
        await self._set_serving(False)  # until Redis is prepared
        await server.start()

    def ready(self) -> bool:
        return self._ready

    async def _set_serving(self, serving: bool) -> None:
        self._ready = serving
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SENDGATE, ADMIN):
            await self.health.set(name, status)
        await self.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)

    def _watcher_ended(self, task: asyncio.Task[None]) -> None:
        # Health and breaker recovery depend on the watcher: if it dies, stop loudly.
        if task.cancelled() or self._stopping.is_set() or task.exception() is None:
            return
        log.error("redis watcher failed", extra={"error": repr(task.exception())})
        self.fatal_error = StartupError(f"redis watcher failed: {task.exception()!r}")
        self.failed.set()

    async def _watch_redis(self) -> None:
        """Ping Redis; health follows reachability, and a good ping closes the breaker."""
        assert self.store is not None and self.gate is not None
        interval = self.settings.redis.health_interval_ms / 1000
        budget = min(interval, self.settings.redis.connect_timeout_ms / 1000)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
                return
            try:
                await self.store.ping(budget)
            except BackendError as exc:
                if self._ready:
                    log.error("redis unreachable", extra={"error": str(exc)})
                    await self._set_serving(False)
                continue
            if not self.store.prepared:
                try:
                    if not await self._prepare_store(0):
                        continue
                except StartupError as exc:
                    log.error("cannot start", extra={"error": str(exc)})
                    self.fatal_error = exc
                    self.failed.set()
                    return
            assert self.guard is not None
            self.guard.breaker.success()
            if not self._ready:
                log.info("redis reachable again")
                await self._set_serving(True)

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, drain RPCs, close Redis, stop embedded Redis."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        self._stopping.set()
        if self._monitor is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._monitor, 2.0)
            self._monitor = None
        await self.health.enter_graceful_shutdown()
        self._ready = False
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self.event_sink is not None:
            await self.event_sink.close(min(grace, 1.0) if grace else 0.2)
            self.event_sink = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self._event_stream is not None:
            await self._event_stream.close()
            self._event_stream = None
        if self._metrics_server is not None:
            self._metrics_server.stop()
            self._metrics_server = None
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.close)
            self.embedded = None
        log.info("sendgate stopped")
