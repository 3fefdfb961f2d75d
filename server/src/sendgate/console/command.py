"""`sendgate console`: its flags, and serving the console until SIGINT or SIGTERM.

Only the standard library is imported at module level, so `sendgate --help` works
without the `console` extra; the web stack loads when the console starts.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sendgate.console.auth import hash_password
from sendgate.console.settings import ConsoleConfigError, ConsoleSettings, load_console_settings

log = logging.getLogger("sendgate.console")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `sendgate console` (each overrides the config file and environment)."""
    parser.add_argument("--config", help="console TOML file (env SENDGATE_CONSOLE_CONFIG)")
    parser.add_argument("--listen", help="HOST:PORT to serve on (default 127.0.0.1:8080)")
    parser.add_argument("--target", help="sidecar admin API HOST:PORT (default 127.0.0.1:50051)")
    parser.add_argument(
        "--token-file", help="file holding the admin token (else env SENDGATE_ADMIN_TOKEN)"
    )
    parser.add_argument("--tls", action="store_true", default=None, help="TLS to the sidecar")
    parser.add_argument("--tls-ca-file", help="CA bundle for the sidecar's certificate")
    parser.add_argument("--tls-cert-file", help="client certificate (mutual TLS)")
    parser.add_argument("--tls-key-file", help="client key (mutual TLS)")
    parser.add_argument("--tls-server-name", help="name to expect on the sidecar's certificate")
    parser.add_argument(
        "--proxy-header", help="trust this header (from trusted_proxies) as the reviewer's name"
    )
    parser.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password (stdin or prompt), print its hash for `reviewers`, exit",
    )


def settings_from(args: argparse.Namespace) -> ConsoleSettings:
    token = Path(args.token_file).read_text().strip() if args.token_file else None
    return load_console_settings(
        args.config or os.environ.get("SENDGATE_CONSOLE_CONFIG") or None,
        listen=args.listen, target=args.target, admin_token=token, tls=args.tls,
        tls_ca_file=args.tls_ca_file, tls_cert_file=args.tls_cert_file,
        tls_key_file=args.tls_key_file, tls_server_name=args.tls_server_name,
        proxy_header=args.proxy_header,
    )  # fmt: skip


def bind(settings: ConsoleSettings) -> socket.socket:
    """The listening socket (port 0 picks a free one: read it back with getsockname)."""
    host = settings.listen_host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, settings.listen_port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(settings: ConsoleSettings, sock: socket.socket | None = None) -> int:
    """Serve the console until SIGINT/SIGTERM (uvicorn's handlers); 0 after a clean stop."""
    # The web stack (the `console` extra) loads only when a console starts.
    import uvicorn  # noqa: PLC0415

    from sendgate.console.app import create_app  # noqa: PLC0415

    sock = sock or bind(settings)
    host, port = sock.getsockname()[:2]
    if not settings.has_credentials:
        log.warning(
            "no reviewer credentials configured: open to anyone on this machine, loopback only"
        )
    if not settings.admin_token.get_secret_value():
        log.warning("no admin token (SENDGATE_ADMIN_TOKEN): only a loopback sidecar will answer")
    print(f"sendgate console on http://{host}:{port}/ → admin API {settings.target}", flush=True)
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, proxy_headers=False
    )
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops on SIGINT/SIGTERM, then raises the signal again under the handler
        # it found: a no-op one here, so a graceful stop exits 0 like `sendgate serve`.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`sendgate console [flags]`: exit 2 on bad configuration, 0 after a clean stop."""
    parser = argparse.ArgumentParser(prog="sendgate console", description=__doc__)
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


def run_args(args: argparse.Namespace) -> int:
    """Run from parsed flags (what `sendgate.cli` calls after its own parser)."""
    if args.hash_password:
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            print("sendgate console: empty password", file=sys.stderr)
            return 2
        print(hash_password(password))
        return 0
    try:
        settings = settings_from(args)
    except (ConsoleConfigError, OSError) as err:
        print(f"sendgate console: {err}", file=sys.stderr)
        return 2
    try:
        return run(settings)
    except ImportError as err:
        print(f"sendgate console: needs the console extra ({err.name})", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"sendgate console: cannot listen on {settings.listen}: {err}", file=sys.stderr)
        return 1
