"""Prometheus metrics (SPEC §4); `http_endpoints` serves them over HTTP.

Labels never carry an account id: only decisions, reasons, limits, flags, modes,
error kinds and gRPC method names, all from small fixed sets.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from sendgate.domain import LIMIT_LABELS, Decision, Event, Reason, SendDecision

# Sub-millisecond resolution where a sidecar's latency lives, up to the slow tail.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class Metrics:
    """Every sendgate metric, on a registry of its own (several servers per process in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "sendgate_decisions_total", "CanSend decisions.", ["decision", "reason"], registry=r
        )
        self.limit_hits = Counter(
            "sendgate_limit_hits_total", "Messages that hit a limit.", ["limit"], registry=r
        )
        self.flags_raised = Counter(
            "sendgate_flags_raised_total", "Flags raised on accounts.", ["flag"], registry=r
        )
        self.events = Counter(
            "sendgate_events_total", "Enforcement events appended to sendgate:events.",
            ["type"], registry=r,
        )  # fmt: skip
        # CheckRegistration answers raised to REVIEW by a crowd of registrations on one
        # identifier (per kind: one of ban_evasion.velocity_kinds, never the identifier).
        self.registration_velocity = Counter(
            "sendgate_registration_velocity_total",
            "Registrations that met ban_evasion.velocity_threshold on an identifier kind.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.degraded_decisions = Counter(
            "sendgate_degraded_decisions_total",
            "Decisions made without Redis by the failure policy.",
            ["mode"],
            registry=r,
        )
        self.redis_errors = Counter(
            "sendgate_redis_errors_total", "Failed Redis calls.", ["kind"], registry=r
        )
        self.redis_call_seconds = Histogram(
            "sendgate_redis_call_seconds", "Redis round trips.", buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.grpc_started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", labels, registry=r
        )
        self.grpc_handled = Counter(
            "grpc_server_handled_total", "RPCs completed on the server.",
            [*labels, "grpc_code"], registry=r,
        )  # fmt: skip
        self.grpc_seconds = Histogram(
            "grpc_server_handling_seconds", "RPC handling time on the server.",
            labels, buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.events_dropped_total = Counter(
            "sendgate_events_dropped_total",
            "Events dropped because the write queue was full (Redis down for long).",
            registry=r,
        )
        # Streaming RPCs: one started/handled per stream, and these per message.
        self.grpc_msg_received = Counter(
            "grpc_server_msg_received_total", "Stream messages received.", labels, registry=r
        )
        self.grpc_msg_sent = Counter(
            "grpc_server_msg_sent_total", "Stream messages sent.", labels, registry=r
        )
        # Labelled children looked up once: labels() takes a lock and builds a key per
        # call, and these are counted on every decision.
        self._degraded = {
            m: self.degraded_decisions.labels(m) for m in ("fail_open", "fail_closed")
        }
        self._limit_hits = {r: self.limit_hits.labels(label) for r, label in LIMIT_LABELS.items()}
        self._decided: dict[tuple[Decision, Reason], Any] = {}
        for flag in ("quality_low", "bulk_suspected", "ban_evasion", "linked_to_banned"):
            self.flags_raised.labels(flag)

    # DecisionObserver
    def decided(self, decision: SendDecision, *, recorded: bool) -> None:
        key = (decision.decision, decision.reason)
        child = self._decided.get(key)
        if child is None:
            child = self._decided[key] = self.decisions.labels(
                decision.decision.name.lower(), decision.reason.name.lower()
            )
        child.inc()
        if recorded and (hit := self._limit_hits.get(decision.reason)) is not None:
            hit.inc()

    def degraded(self, mode: str) -> None:
        child = self._degraded.get(mode)
        (child if child is not None else self.degraded_decisions.labels(mode)).inc()

    # EventObserver
    def events_dropped(self, count: int) -> None:
        self.events_dropped_total.inc(count)

    def event(self, event: Event) -> None:
        self.events.labels(event.type).inc()
        if event.type == "flag_raised":
            self.flags_raised.labels(dict(event.fields).get("flag", "unknown")).inc()
        elif event.type == "registration_velocity":
            self.registration_velocity.labels(dict(event.fields).get("kind", "unknown")).inc()
        elif event.type == "account_linked":
            # One event per newly linked account is the flag: no second stream entry.
            self.flags_raised.labels("linked_to_banned").inc()

    # StoreObserver
    def redis_call(self, seconds: float) -> None:
        self.redis_call_seconds.observe(seconds)

    def redis_error(self, kind: str) -> None:
        self.redis_errors.labels(kind).inc()
