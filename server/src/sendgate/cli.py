"""The `sendgate` command: `serve` runs the sidecar, `console` the reviewers' web console,
`functions prune` tidies Redis; the rest are terminal clients."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Sequence

from sendgate import cli_client, logs
from sendgate.config import load_settings
from sendgate.errors import ConfigError, StartupError

log = logging.getLogger("sendgate.cli")


def _version() -> str:
    try:
        return importlib.metadata.version("sendgate")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "unknown"


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    p = argparse.ArgumentParser(prog="sendgate", description="Anti-spam enforcement sidecar.")
    p.add_argument("--version", action="version", version=f"sendgate {_version()}")
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

    console = sub.add_parser(
        "console", help="web console for trust-and-safety reviewers (needs sendgate[console])"
    )
    from sendgate import console as console_cmd  # standard library and pydantic only

    console_cmd.add_arguments(console)
    functions = sub.add_parser("functions", help="Redis Function libraries of sendgate")
    functions.add_argument("action", choices=["prune"], help="delete libraries no sidecar uses")
    functions.add_argument("--redis-url", required=True, help="the sidecars' Redis")

    cli_client.add_commands(sub)
    return p, dict(sub.choices)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = _parser()
    ns, extra = parser.parse_known_args(argv)
    if extra:  # the subcommand's usage, not the top-level one, says what it takes
        commands[ns.command].error(f"unrecognized arguments: {' '.join(extra)}")
    if ns.command == "serve":
        return _run_serve(ns)
    if ns.command == "console":
        from sendgate import console as console_cmd

        return console_cmd.run_args(ns)
    if ns.command == "functions":
        from sendgate.store import functions_cli

        return functions_cli.main([ns.action, "--redis-url", ns.redis_url])
    try:
        code = cli_client.run(ns)
        sys.stdout.flush()
    except BrokenPipeError:
        # `sendgate events | head`: the reader left. Point stdout at devnull so the
        # interpreter's final flush does not raise again (Python docs, SIGPIPE note).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _run_serve(ns: argparse.Namespace) -> int:
    try:
        import uvloop  # optional: `pip install sendgate[fast]`
    except ImportError:
        return asyncio.run(_serve(ns))
    return uvloop.run(_serve(ns))
