"""The pages a reviewer reads: the queue, an account, the events (GET only)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from sendgate.console import charts, queue, tail
from sendgate.console.backend import BackendError
from sendgate.console.models import AccountInfo, LinkInfo
from sendgate.console.web import console, now_ms, render, require_reviewer

QUEUE_ACCOUNTS = 50
# Linked accounts listed on an account page, each with its own GetAccount for its flags
# (ListLinkedAccounts answers up to 1,000: a shared café device must not cost 1,000 calls).
LINKS_SHOWN = 50
EVENT_ROWS = 200
# Kinds the events filter always offers; kinds seen in the stream are added.
KNOWN_KINDS = (
    "limit_hit", "restricted", "unrestricted", "flag_raised", "flag_cleared", "tier_changed",
    "exception_requested", "exception_reviewed", "account_banned", "account_unbanned",
    "ban_evasion", "account_linked", "account_unlinked", "review_cleared", "account_forgotten",
)  # fmt: skip


async def _accounts(names: set[str], reviewer: str, request: Request) -> dict[str, AccountInfo]:
    """Current state of each account (those the sidecar cannot answer for are left out)."""
    backend = console(request).backend
    ordered = sorted(names)
    got = await asyncio.gather(
        *(backend.account(n, reviewer) for n in ordered), return_exceptions=True
    )
    return {n: a for n, a in zip(ordered, got, strict=True) if isinstance(a, AccountInfo)}


async def queue_page(request: Request) -> Response:
    who = require_reviewer(request)
    c = console(request)
    pending = await c.backend.exceptions("PENDING", who)
    pending.sort(key=lambda x: x.requested_at, reverse=True)
    await c.tail.refresh(who)
    flagged = queue.build(c.tail.oldest_first())[:QUEUE_ACCOUNTS]
    accounts = await _accounts(
        {i.account for i in flagged} | {x.account for x in pending[:QUEUE_ACCOUNTS]}, who, request
    )
    flagged = [i for i in flagged if not (accounts.get(i.account) and accounts[i.account].banned)]
    now = now_ms()
    chart = charts.stacked_bars(
        charts.hourly(c.tail.oldest_first(), now, c.settings.chart_hours),
        now,
        f"Limits hit, flags, links and bans per hour, last {c.settings.chart_hours} hours",
    )
    return render(
        request, "queue.html",
        pending=pending, flagged=flagged, accounts=accounts, counts=queue.counts(flagged),
        events_available=c.tail.available, events_note=c.tail.unavailable_reason,
        chart=chart, series=charts.SERIES, chart_hours=c.settings.chart_hours,
    )  # fmt: skip


async def account_page(request: Request) -> Response:
    who = require_reviewer(request)
    account = request.query_params.get("id", "").strip()
    if not account:
        return RedirectResponse("/", status_code=303)
    c = console(request)
    info = await c.backend.account(account, who)
    links: list[LinkInfo] | None
    links_note = ""
    try:
        links = await c.backend.linked(account, who)
    except BackendError as err:
        links, links_note = None, f"linked accounts could not be read: {err}"
    shown = None if links is None else links[:LINKS_SHOWN]
    linked = await _accounts({x.account for x in shown or []}, who, request)
    await c.tail.refresh(who)
    events = tail.select(c.tail.newest_first(), account=account, limit=50)
    return render(
        request, "account.html",
        a=info, links=shown, links_note=links_note, links_total=len(links or []),
        shares={x.account: x.shared_kinds for x in links or []},
        linked=linked, events=events, events_available=c.tail.available,
        pending=[x for x in info.exceptions if x.state == "PENDING"],
    )  # fmt: skip


def _filters(request: Request) -> tuple[frozenset[str], str]:
    kinds = frozenset(k for k in request.query_params.getlist("kind") if k)
    return kinds, request.query_params.get("account", "").strip()


async def events_page(request: Request) -> Response:
    who = require_reviewer(request)
    c = console(request)
    await c.tail.refresh(who)
    kinds, account = _filters(request)
    rows = tail.select(c.tail.newest_first(), kinds, account, limit=EVENT_ROWS)
    seen = sorted({e.kind for e in c.tail.oldest_first()} | set(KNOWN_KINDS))
    now = now_ms()
    chart = charts.stacked_bars(
        charts.hourly(
            tail.select(c.tail.oldest_first(), kinds, account, limit=10**9),
            now,
            c.settings.chart_hours,
        ),
        now,
        f"Matching events per hour, last {c.settings.chart_hours} hours",
    )
    return render(
        request, "events.html",
        events=rows, kinds=seen, chosen=kinds, account=account, last_id=c.tail.last_id,
        events_available=c.tail.available, events_note=c.tail.unavailable_reason,
        chart=chart, series=charts.SERIES,
    )  # fmt: skip


async def events_json(request: Request) -> Response:
    """New events after `after`, newest first: what the events page polls."""
    who = require_reviewer(request)
    c = console(request)
    await c.tail.refresh(who)
    kinds, account = _filters(request)
    after = request.query_params.get("after", "")
    matching = tail.select(c.tail.oldest_first(), kinds, account, after_id=after, limit=10**9)
    rows = matching[-EVENT_ROWS:][::-1]
    return JSONResponse(
        {
            "available": c.tail.available,
            "last_id": c.tail.last_id,
            "events": [asdict(e) for e in rows],
        },
        headers={"cache-control": "no-store"},
    )
