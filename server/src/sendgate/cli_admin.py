"""`sendgate admin …`: every SendGateAdmin operation for a reviewer at a terminal.

Readable text by default, `--json` for scripts (times as Unix ms). Durations and dates
are written as people write them (`7d`, `12h`, `2026-07-01`) and sent as Unix ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from typing import Any

from sendgate import cli_format as fmt
from sendgate.client import Account, AdminClient, LimitException, SendGateClient
from sendgate.console.timefmt import parse_expiry, parse_past, show


def add_commands(sub: Any, add_connection: Any) -> None:
    """`admin` and its subcommands; `add_connection` adds --target, --token, TLS, --json."""
    about = "trust-and-safety operations over SendGateAdmin"
    admin = sub.add_parser("admin", help=about, description=about)
    ops = admin.add_subparsers(dest="admin_command", required=True, metavar="OPERATION")

    def op(name: str, help_: str, token_env: str = "SENDGATE_ADMIN_TOKEN") -> Any:
        p: argparse.ArgumentParser = ops.add_parser(name, help=help_, description=help_)
        add_connection(p, token_env)
        p.add_argument("--reviewer", help="who acts (recorded with the event; default $USER)")
        return p

    op("account", "an account: usage, tier, quality, status, flags, bulk score, exceptions, "
                  "ban, linked accounts").add_argument("account")  # fmt: skip
    ban = op("ban", "ban an account (its identifiers are kept only as keyed hashes)")
    ban.add_argument("account")
    ban.add_argument("--reason", required=True, help="why (shown to other reviewers)")
    ban.add_argument("--identifier", action="append", default=[], metavar="KIND:VALUE",
                     help="device:…, payment:…, network:… (repeatable)")  # fmt: skip
    op("unban", "lift a ban (and what it caused)").add_argument("account")
    exceptions = op("exceptions", "list message-limit exception requests")
    exceptions.add_argument("--state", choices=["PENDING", "APPROVED", "REJECTED", "EXPIRED"],
                            help="only this state (default: every state)")  # fmt: skip
    review = op("review", "approve or reject an exception request")
    review.add_argument("request_id")
    verdict = review.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true")
    verdict.add_argument("--reject", action="store_true")
    review.add_argument("--allowance", type=int, default=0, help="extra messages a month")
    review.add_argument("--expires", help="7d, 12h, 2w or a date (2026-07-01); with --approve")
    op("linked", "accounts that share identifiers with an account").add_argument("account")
    op("clear-review", "end an account's review (its daily allowance)").add_argument("account")
    op("forget", "erase an account's registration identifiers").add_argument("account")
    tier = op("evaluate-tier", "re-evaluate a business's tier now, with the reasons")
    tier.add_argument("account")
    upsert = op("upsert", "create or update an account record")
    upsert.add_argument("account")
    upsert.add_argument("--kind", choices=["PERSONAL", "BUSINESS"], default="PERSONAL")
    upsert.add_argument("--business-verified", action="store_true")
    upsert.add_argument("--identity-verified", action="store_true")
    upsert.add_argument("--registered", help="registration date (2025-01-31) or 3d (ago)")
    # A SendGate call (the chat server's token), listed here because reviewers run it.
    check = op("check-registration", "check a new account's identifiers against bans",
               "SENDGATE_TOKEN")  # fmt: skip
    check.add_argument("account")
    check.add_argument("--identifier", action="append", default=[], metavar="KIND:VALUE")


def _json(value: object) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.dumps(dataclasses.asdict(value))
    return json.dumps(value)


def exception_line(x: LimitException) -> str:
    extra = f" +{x.extra_allowance} until {show(x.expires_at)}" if x.state == "APPROVED" else ""
    note = f" — {x.note}" if x.note else ""
    return (f"{x.request_id}  {x.state:<8} {x.account}  {x.reason}{extra}"
            f"  (asked {show(x.requested_at)}){note}")  # fmt: skip


def account_lines(a: Account) -> list[str]:
    head = f"{a.account}: {a.kind}" + (f", BANNED ({a.ban_reason})" if a.banned else "")
    lines = [head, *fmt.usage_lines(a.usage)]
    if a.registered_at:
        lines.append(f"registered {show(a.registered_at)}")
    if a.kind == "BUSINESS":
        verified = f"business {'yes' if a.business_verified else 'no'}, identity " + (
            "yes" if a.identity_verified else "no"
        )
        lines.append(f"tier index {a.tier_index}; verified: {verified}")
    features = ", ".join(f"{k} {v:g}" for k, v in sorted(a.features.items()))
    lines.append(f"bulk score {a.bulk_score:.2f}" + (f" ({features})" if features else ""))
    lines.extend(f"exception {exception_line(x)}" for x in a.exceptions)
    return lines


def _linked_lines(admin: AdminClient, account: str) -> list[str]:
    links = admin.list_linked_accounts(account)
    if not links:
        return ["linked accounts: none"]
    return ["linked accounts:"] + [
        f"  {x.account}  shares {', '.join(x.shared_kinds)}"
        f"{'  (strong)' if x.strong else ''}{'  BANNED' if x.banned else ''}"
        for x in links
    ]


def run(ns: argparse.Namespace, connect: dict[str, Any]) -> None:
    """One admin operation; prints its answer. ClientError goes to the caller."""
    cmd = ns.admin_command
    now_ms = int(time.time() * 1000)
    if cmd == "check-registration":  # a SendGate call, but an operation reviewers run
        with SendGateClient(ns.target, **connect) as sg:
            r = sg.check_registration(ns.account, ns.identifier)
        print(_json(r) if ns.json else f"{r.decision} " + (
            f"(matches banned: {', '.join(r.matched_banned_accounts)})"
            if r.matched_banned_accounts else "(no banned account matches)"))  # fmt: skip
        return
    reviewer = ns.reviewer or os.environ.get("USER") or None
    with AdminClient(ns.target, reviewer=reviewer, **connect) as admin:
        if cmd == "account":
            a = admin.get_account(ns.account)
            if ns.json:
                print(_json(a))
            else:
                print("\n".join([*account_lines(a), *_linked_lines(admin, ns.account)]))
        elif cmd == "ban":
            admin.ban_account(ns.account, ns.reason, ns.identifier)
            print(_json({"banned": ns.account}) if ns.json else f"banned {ns.account}")
        elif cmd == "unban":
            admin.unban_account(ns.account)
            print(_json({"unbanned": ns.account}) if ns.json else f"unbanned {ns.account}")
        elif cmd == "exceptions":
            found = admin.list_exceptions(ns.state)
            for x in found:
                print(_json(x) if ns.json else exception_line(x))
            if not found and not ns.json:
                print("no exception requests")
        elif cmd == "review":
            if ns.approve and not ns.expires:
                raise ValueError("--approve needs --expires (for example 7d or 2026-07-01)")
            expires = parse_expiry(ns.expires, now_ms) if ns.approve else 0
            x = admin.review_exception(
                ns.request_id, ns.approve, extra_allowance=ns.allowance, expires_at=expires
            )
            print(_json(x) if ns.json else exception_line(x))
        elif cmd == "linked":
            if ns.json:
                for link in admin.list_linked_accounts(ns.account):
                    print(_json(link))
            else:
                print("\n".join(_linked_lines(admin, ns.account)))
        elif cmd == "clear-review":
            admin.clear_review(ns.account)
            print(_json({"cleared": ns.account}) if ns.json else f"review cleared: {ns.account}")
        elif cmd == "forget":
            admin.forget_account(ns.account)
            print(_json({"forgotten": ns.account}) if ns.json else
                  f"registration identifiers of {ns.account} erased")  # fmt: skip
        elif cmd == "evaluate-tier":
            t = admin.evaluate_tier(ns.account)
            if ns.json:
                print(_json(t))
            else:
                moved = "changed" if t.changed else "unchanged"
                print(f"tier index {t.tier_index} (limit {t.tier_limit or 'unlimited'}), {moved}")
                print("\n".join(f"  {r}" for r in t.reasons))
        elif cmd == "upsert":
            a = admin.upsert_account(
                ns.account, ns.kind, business_verified=ns.business_verified,
                identity_verified=ns.identity_verified,
                registered_at=parse_past(ns.registered or "", now_ms),
            )  # fmt: skip
            print(_json(a) if ns.json else "\n".join(account_lines(a)))
