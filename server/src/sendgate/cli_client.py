"""The `sendgate` commands a person runs against a running sidecar: usage, check,
reply (SendGate), events (SendGateAdmin's ListEvents) and admin (cli_admin)."""

from __future__ import annotations

import argparse
import collections
import math
import os
import sys
import time
import uuid
from typing import Any

from sendgate import cli_admin
from sendgate import cli_format as fmt
from sendgate.client import DEFAULT_TARGET, AdminClient, ClientError, SendGateClient

_PAGE = 1000  # ListEvents' largest page
# Catching up a bounded stream (events_max_len, default 100 000) takes this many pages.
_MAX_PAGES = 10_000


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def non_empty(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("must not be empty (it is the idempotency key)")
    return text


def add_connection(p: argparse.ArgumentParser, token_env: str) -> None:
    """Where the sidecar is and how to prove who we are."""
    p.add_argument("--target", default=DEFAULT_TARGET, help="sidecar HOST:PORT or unix:PATH")
    p.add_argument("--token", default=None, help=f"bearer token (default ${token_env})")
    p.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    p.add_argument("--ca", metavar="FILE", help="TLS: the CA certificate (PEM) to trust")
    p.add_argument("--cert", metavar="FILE", help="mutual TLS: client certificate (PEM)")
    p.add_argument("--key", metavar="FILE", help="mutual TLS: client private key (PEM)")
    p.add_argument("--server-name", help="TLS: the name on the server's certificate")
    p.add_argument("--timeout", type=positive_seconds, default=2.0, help="seconds (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON (times in Unix ms)")
    p.set_defaults(token_env=token_env)


def add_commands(sub: Any) -> None:
    def command(name: str, help_: str, token_env: str = "SENDGATE_TOKEN") -> Any:
        c = sub.add_parser(name, help=help_, description=help_)
        add_connection(c, token_env)
        return c

    usage = command("usage", "print an account's monthly usage")
    usage.add_argument("account")
    check = command("check", "ask whether SENDER may message RECIPIENT (counts unless --dry-run)")
    check.add_argument("sender")
    check.add_argument("recipient")
    check.add_argument("--message-id", type=non_empty, help="idempotency key (default: random)")
    check.add_argument("--username", action="store_true", help="recipient reached by username")
    check.add_argument("--dry-run", action="store_true", help="evaluate, record nothing")
    reply = command("reply", "record that REPLIER answered REPLIED_TO")
    reply.add_argument("replier")
    reply.add_argument("replied_to")
    events = command("events", "print enforcement events (admin API)", "SENDGATE_ADMIN_TOKEN")
    events.add_argument("--count", type=non_negative_int, default=20, help="recent events first")
    events.add_argument("--follow", "-f", action="store_true", help="then wait for new ones")
    events.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    # For tests and scripts: stop following after this many polls.
    events.add_argument("--max-polls", type=non_negative_int, help=argparse.SUPPRESS)
    events.add_argument("--poll-interval", type=positive_seconds, default=1.0,
                        help=argparse.SUPPRESS)  # fmt: skip
    cli_admin.add_commands(sub, add_connection)


def _connect(ns: argparse.Namespace) -> dict[str, Any]:
    token = ns.token if ns.token is not None else os.environ.get(ns.token_env) or None
    return {
        "token": token,
        "tls": ns.tls,
        "root_certificates": ns.ca,
        "certificate_chain": ns.cert,
        "private_key": ns.key,
        "server_name": ns.server_name,
        "timeout": ns.timeout,
    }


def _sendgate(ns: argparse.Namespace, sg: SendGateClient) -> None:
    if ns.command == "usage":
        u = sg.get_usage(ns.account)
        print(fmt.as_json(u) if ns.json else "\n".join(fmt.usage_lines(u)))
    elif ns.command == "check":
        via = "USERNAME" if ns.username else "PHONE_NUMBER"
        message_id = ns.message_id if ns.message_id is not None else uuid.uuid4().hex
        r = sg.can_send(ns.sender, ns.recipient, message_id, via=via, dry_run=ns.dry_run)
        if ns.json:
            print(fmt.as_json(r))
        else:
            print("\n".join([fmt.decision_line(r, ns.dry_run), *fmt.usage_lines(r.usage)]))
    elif ns.command == "reply":
        refunded = sg.record_reply(ns.replier, ns.replied_to)
        print(f'{{"refunded": {refunded}}}' if ns.json else f"refunded {refunded}")


def _events(ns: argparse.Namespace, admin: AdminClient) -> None:
    """The last --count events (paging the stream from its oldest), then, with
    --follow, new ones every --poll-interval."""
    recent: collections.deque[Any] = collections.deque(maxlen=ns.count)
    after = ""
    for _ in range(_MAX_PAGES):
        page = admin.list_events(after, limit=_PAGE, kinds=ns.kind)
        recent.extend(page.events)
        if page.next_id == after:
            break
        after = page.next_id
    for e in recent:
        print(fmt.as_json(e) if ns.json else fmt.event_line(e), flush=True)
    polls = 0
    while ns.follow and (ns.max_polls is None or polls < ns.max_polls):
        polls += 1
        page = admin.list_events(after, limit=_PAGE, kinds=ns.kind)
        for e in page.events:
            print(fmt.as_json(e) if ns.json else fmt.event_line(e), flush=True)
        if page.next_id == after:
            time.sleep(ns.poll_interval)  # nothing new: poll again later
        after = page.next_id


def run(ns: argparse.Namespace) -> int:
    """Run one client command; 1 with a one-line message when the call fails."""
    try:
        if ns.command == "admin":
            cli_admin.run(ns, _connect(ns))
        elif ns.command == "events":
            with AdminClient(ns.target, **_connect(ns)) as admin:
                _events(ns, admin)
        else:
            with SendGateClient(ns.target, **_connect(ns)) as sg:
                _sendgate(ns, sg)
    except ClientError as exc:
        print(f"sendgate: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad option the client refused (e.g. a missing file)
        print(f"sendgate: {exc}", file=sys.stderr)
        return 2
    return 0
