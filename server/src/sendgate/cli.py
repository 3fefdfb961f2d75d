"""The `sendgate` command: `serve` runs the sidecar; the rest are terminal clients."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sendgate import logs
from sendgate.client import ClientError, SendGateClient
from sendgate.client._core import DEFAULT_TARGET
from sendgate.config import load_settings
from sendgate.errors import ConfigError, StartupError

log = logging.getLogger("sendgate.cli")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sendgate", description="Anti-spam enforcement sidecar.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the sidecar (embedded Redis unless --redis-url)")
    serve.add_argument("--config", help="TOML file (default: $SENDGATE_CONFIG)")
    serve.add_argument("--redis-url", help="redis://, rediss://, unix:// or redis+cluster:// URL")
    serve.add_argument("--grpc-address", help="HOST:PORT (default 127.0.0.1:50051)")
    serve.add_argument("--metrics-address", help="HOST:PORT (default 0.0.0.0:9464)")
    serve.add_argument("--failure-mode", choices=["fail_open", "fail_closed"])
    serve.add_argument(
        "--allow-client-time", action="store_true", default=None,
        help="honour at_unix_ms in requests (tests, replays)",
    )  # fmt: skip

    def client(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        c.add_argument("--target", default=DEFAULT_TARGET, help="sidecar HOST:PORT")
        c.add_argument("--timeout", type=float, default=2.0, help="seconds")
        c.add_argument("--json", action="store_true", help="print JSON")
        return c

    usage = client("usage", "print an account's monthly usage")
    usage.add_argument("account")
    check = client("check", "ask whether SENDER may message RECIPIENT (counts unless --dry-run)")
    check.add_argument("sender")
    check.add_argument("recipient")
    check.add_argument("--message-id", default=None, help="idempotency key (default: random)")
    check.add_argument("--username", action="store_true", help="recipient reached by username")
    check.add_argument("--dry-run", action="store_true")
    reply = client("reply", "record that REPLIER answered REPLIED_TO")
    reply.add_argument("replier")
    reply.add_argument("replied_to")
    events = sub.add_parser("events", help="print enforcement events from sendgate:events")
    events.add_argument(
        "--redis-url", default=os.environ.get("SENDGATE_REDIS_URL", ""),
        help="the sidecars' Redis (default $SENDGATE_REDIS_URL)",
    )  # fmt: skip
    events.add_argument("--count", type=int, default=20, help="how many recent events first")
    events.add_argument("--follow", "-f", action="store_true", help="then wait for new ones")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    return p


async def _serve(ns: argparse.Namespace) -> int:
    from sendgate.server import SendGateServer  # the server's imports are not needed by clients

    try:
        settings = load_settings(
            ns.config,
            redis_url=ns.redis_url,
            grpc_address=ns.grpc_address,
            metrics_address=ns.metrics_address,
            failure_mode=ns.failure_mode,
            allow_client_time=ns.allow_client_time,
        )
    except ConfigError as exc:
        print(f"sendgate: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    server = SendGateServer(settings)
    # Signals first: start-up may wait seconds for Redis, and a SIGTERM meanwhile is a
    # request to stop cleanly, not a kill.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.ensure_future(server.start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()  # start() cleans up what it began
        await asyncio.gather(starting, return_exceptions=True)
        log.info("stopped during start-up")
        return 0
    stopping.cancel()
    try:
        starting.result()
    except StartupError as exc:
        log.error("cannot start", extra={"error": str(exc)})
        return 1
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(server.failed.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    await server.stop()
    return 1 if server.fatal_error is not None else 0


def _print_usage(usage: object, as_json: bool) -> None:
    data = dataclasses.asdict(usage)  # type: ignore[call-overload]
    if as_json:
        print(json.dumps(data))
        return
    resets = datetime.fromtimestamp(data["resets_at"] / 1000, tz=UTC).isoformat()
    print(f"used {data['used']} of {data['limit']} ({data['remaining']} left), resets {resets}")
    print(f"username: {data['username_used']} of {data['username_limit']}")
    if data["tier_limit"] or data["status"] != "ACCOUNT_STATUS_UNSPECIFIED":
        print(f"business: tier limit {data['tier_limit'] or 'unlimited'}, "
              f"{data['unique_users_24h']} users in 24 h, quality {data['quality']}, "
              f"status {data['status']}")  # fmt: skip
    if data["flags"]:
        print("flags: " + ", ".join(data["flags"]))


def _client(ns: argparse.Namespace) -> int:
    with SendGateClient(ns.target, timeout=ns.timeout) as sg:
        try:
            if ns.command == "usage":
                _print_usage(sg.get_usage(ns.account), ns.json)
            elif ns.command == "check":
                r = sg.can_send(
                    ns.sender, ns.recipient, ns.message_id or uuid.uuid4().hex,
                    via="USERNAME" if ns.username else "PHONE_NUMBER", dry_run=ns.dry_run,
                )  # fmt: skip
                if ns.json:
                    print(json.dumps(dataclasses.asdict(r)))
                else:
                    print(f"{r.decision} reason={r.reason} counted={r.counted} warning={r.warning}"
                          f" retry_after_ms={r.retry_after_ms}")  # fmt: skip
                    _print_usage(r.usage, False)
            elif ns.command == "reply":
                refunded = sg.record_reply(ns.replier, ns.replied_to)
                print(json.dumps({"refunded": refunded}) if ns.json else f"refunded {refunded}")
        except ClientError as exc:
            print(f"sendgate: {exc}", file=sys.stderr)
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    if ns.command == "serve":
        return _run_serve(ns)
    if ns.command == "events":
        from sendgate.events_tail import tail

        if not ns.redis_url:
            print("sendgate: events needs --redis-url or SENDGATE_REDIS_URL", file=sys.stderr)
            return 2
        try:
            return tail(ns.redis_url, ns.count, ns.follow, ns.json)
        except KeyboardInterrupt:
            return 0
    return _client(ns)


def _run_serve(ns: argparse.Namespace) -> int:
    try:
        import uvloop  # optional: `pip install sendgate[fast]`
    except ImportError:
        return asyncio.run(_serve(ns))
    return uvloop.run(_serve(ns))
