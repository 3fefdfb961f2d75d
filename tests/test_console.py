"""The reviewer console over HTTP, against a real sidecar (and a real Redis) on loopback.

The console runs under uvicorn in its own thread and event loop, as `sendgate console`
would; tests talk to it with httpx over a real socket. Pure parts (password hashes,
expiry parsing, the queue, the charts, settings) are tested without I/O at the end.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
import uvicorn

from sendgate.console import auth, charts, queue, tail, timefmt
from sendgate.console.app import create_app
from sendgate.console.command import bind
from sendgate.console.models import EventInfo
from sendgate.console.settings import ConsoleConfigError, ConsoleSettings, load_console_settings
from sendgate.console.web import safe_next
from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import ServerFactory, acct

ADMIN_TOKEN = "console-test-admin-token-5f1c"
PASSWORD = "correct horse battery staple"
REVIEWER = "alice"
# One hash for the session: scrypt costs tens of ms.
PASSWORD_HASH = auth.hash_password(PASSWORD)
ADMIN_META = [("authorization", f"Bearer {ADMIN_TOKEN}")]
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class ConsoleThread:
    """A console served by uvicorn in a thread of its own, on a port-0 loopback socket."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self._sock = bind(settings)
        port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(settings), log_level="warning", access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("console did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


def console_settings(sidecar_port: int, **overrides: Any) -> ConsoleSettings:
    values: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "target": f"127.0.0.1:{sidecar_port}",
        "admin_token": ADMIN_TOKEN,
        "reviewers": {REVIEWER: PASSWORD_HASH},
        "events_refresh_s": 0,
        "session_secret": "console-tests-session-secret",
    }
    values.update(overrides)
    return load_console_settings(None, environ={}, **values)


@dataclass
class Env:
    sidecar: SendGateServer
    console: ConsoleThread
    send: pb_grpc.SendGateStub
    admin: pb_grpc.SendGateAdminStub

    async def account(self, account: str) -> pb.Account:
        reply = await self.admin.GetAccount(
            pb.GetAccountRequest(account=account), metadata=ADMIN_META
        )
        got: pb.Account = reply.account
        return got

    async def register(self, account: str, *identifiers: str) -> int:
        reply = await self.send.CheckRegistration(
            pb.CheckRegistrationRequest(account=account, identifiers=list(identifiers))
        )
        return int(reply.decision)

    async def linked(self, account: str) -> list[str]:
        reply = await self.admin.ListLinkedAccounts(
            pb.ListLinkedAccountsRequest(account=account), metadata=ADMIN_META
        )
        return [x.account for x in reply.links]

    async def request_exception(self, account: str, note: str = "hiring season") -> str:
        reply = await self.send.RequestException(
            pb.RequestExceptionRequest(
                account=account,
                reason=pb.TALKING_TO_CUSTOMERS_OR_EMPLOYEES,
                note=note,
            )
        )
        return str(reply.request_id)


@pytest_asyncio.fixture(scope="session")
async def console_env(server_factory: ServerFactory) -> AsyncIterator[Env]:
    sidecar = await server_factory(
        limits={"personal_monthly": 5},
        auth={"admin_token": ADMIN_TOKEN},
        ban_evasion={"hmac_key": "console-tests-hmac-key"},
    )
    thread = ConsoleThread(console_settings(sidecar.grpc_port))
    thread.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        yield Env(
            sidecar, thread, pb_grpc.SendGateStub(channel), pb_grpc.SendGateAdminStub(channel)
        )
    thread.stop()


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest_asyncio.fixture
async def anon(console_env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console_env.console.url, timeout=10) as client:
        yield client


@pytest_asyncio.fixture
async def signed_in(console_env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console_env.console.url, timeout=10) as client:
        page = await client.get("/login")
        reply = await client.post(
            "/login", data={"csrf": csrf_of(page.text), "name": REVIEWER, "password": PASSWORD}
        )
        assert reply.status_code == 303, reply.text
        yield client


async def csrf(client: httpx.AsyncClient, path: str = "/") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


# ------------------------------------------------------------------ sign-in


async def test_pages_need_sign_in(anon: httpx.AsyncClient) -> None:
    for path in ("/", "/events", "/account?id=x-1"):
        reply = await anon.get(path)
        assert reply.status_code == 303
        assert reply.headers["location"].startswith("/login?next=")
    assert (await anon.get("/events.json")).status_code == 401
    login = await anon.get("/login")
    assert login.status_code == 200 and 'type="password"' in login.text


async def test_actions_need_sign_in(console_env: Env, anon: httpx.AsyncClient) -> None:
    account = acct("anon")
    token = csrf_of((await anon.get("/login")).text)
    reply = await anon.post("/account/ban", data={"csrf": token, "account": account, "reason": "x"})
    assert reply.status_code == 401
    assert not (await console_env.account(account)).banned


async def test_wrong_password_is_refused(anon: httpx.AsyncClient) -> None:
    token = csrf_of((await anon.get("/login")).text)
    for name, password in ((REVIEWER, "wrong"), ("mallory", PASSWORD)):
        reply = await anon.post("/login", data={"csrf": token, "name": name, "password": password})
        assert reply.status_code == 401
        assert "Wrong name or password" in reply.text
    assert (await anon.get("/")).status_code == 303


async def test_sign_in_needs_the_form_token(anon: httpx.AsyncClient) -> None:
    await anon.get("/login")
    reply = await anon.post("/login", data={"name": REVIEWER, "password": PASSWORD})
    assert reply.status_code == 403
    assert (await anon.get("/")).status_code == 303


async def test_sign_in_goes_back_to_the_page_asked_for(anon: httpx.AsyncClient) -> None:
    first = await anon.get("/events")
    target = first.headers["location"]
    page = await anon.get(target)
    nxt = re.search(r'name="next" value="([^"]*)"', page.text)
    assert nxt and nxt.group(1) == "/events"
    form = {"csrf": csrf_of(page.text), "name": REVIEWER, "password": PASSWORD}
    reply = await anon.post("/login", data={**form, "next": "//evil.example/"})
    assert reply.headers["location"] == "/"


async def test_sign_out_ends_the_session(signed_in: httpx.AsyncClient) -> None:
    token = await csrf(signed_in)
    reply = await signed_in.post("/logout", data={"csrf": token})
    assert reply.status_code == 303
    assert (await signed_in.get("/")).status_code == 303


# ------------------------------------------------------------------ CSRF


async def test_actions_without_the_form_token_are_refused(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    account = acct("csrf")
    token = await csrf(signed_in)
    ban = {"account": account, "reason": "spam"}
    assert (await signed_in.post("/account/ban", data=ban)).status_code == 403
    wrong = {**ban, "csrf": token[:-2] + "xx"}
    assert (await signed_in.post("/account/ban", data=wrong)).status_code == 403
    # The right token from another site's page is still refused.
    cross = await signed_in.post(
        "/account/ban", data={**ban, "csrf": token}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert not (await console_env.account(account)).banned
    rid = await console_env.request_exception(account)
    review = {"request_id": rid, "decision": "approve", "allowance": "10", "expires": "7d"}
    assert (await signed_in.post("/exception/review", data=review)).status_code == 403
    assert (await console_env.account(account)).usage.limit == 5


# ------------------------------------------------------------------ the work


async def test_approve_a_pending_exception_raises_the_limit(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    account = acct("approve")
    rid = await console_env.request_exception(account, note="hiring for the summer")
    queue_page = await signed_in.get("/")
    assert rid in queue_page.text and account in queue_page.text
    assert "hiring for the summer" in queue_page.text
    reply = await signed_in.post(
        "/exception/review",
        data={
            "csrf": csrf_of(queue_page.text), "request_id": rid, "account": account,
            "decision": "approve", "allowance": "20", "expires": "7d", "note": "ok, seasonal",
            "next": "/",
        },
    )  # fmt: skip
    assert reply.status_code == 303 and reply.headers["location"] == "/"
    after = await signed_in.get("/")
    assert f"Approved {account}: +20" in after.text
    assert rid not in after.text  # no longer pending
    got = await console_env.account(account)
    assert got.usage.limit == 25
    page = await signed_in.get("/account", params={"id": account})
    assert '<b id="limit">25</b>' in page.text
    assert "approved" in page.text.lower()


async def test_reject_a_pending_exception(console_env: Env, signed_in: httpx.AsyncClient) -> None:
    account = acct("reject")
    rid = await console_env.request_exception(account)
    token = await csrf(signed_in)
    reply = await signed_in.post(
        "/exception/review",
        data={"csrf": token, "request_id": rid, "account": account, "decision": "reject",
              "next": f"/account?id={account}"},
    )  # fmt: skip
    assert reply.headers["location"] == f"/account?id={account}"
    page = await signed_in.get(reply.headers["location"])
    assert f"Rejected the request of {account}" in page.text
    assert (await console_env.account(account)).usage.limit == 5
    states = [x.state for x in (await console_env.account(account)).exceptions]
    assert states == [pb.REJECTED]


async def test_a_bad_approval_says_why(console_env: Env, signed_in: httpx.AsyncClient) -> None:
    account = acct("bad")
    rid = await console_env.request_exception(account)
    token = await csrf(signed_in)
    base = {"csrf": token, "request_id": rid, "account": account, "decision": "approve"}
    for extra, message in (
        ({"allowance": "0", "expires": "7d"}, "positive extra allowance"),
        ({"allowance": "10", "expires": "soon"}, "write 7d"),
        ({"allowance": "10", "expires": "2001-01-01"}, "expiry in the future"),
    ):
        reply = await signed_in.post("/exception/review", data={**base, **extra})
        page = await signed_in.get(reply.headers["location"])
        assert message in page.text, message
    assert (await console_env.account(account)).usage.limit == 5


async def test_ban_and_unban_from_the_account_page(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    account = acct("ban")
    page = await signed_in.get("/account", params={"id": account})
    assert page.status_code == 200 and 'id="ban"' in page.text
    reply = await signed_in.post(
        "/account/ban",
        data={"csrf": csrf_of(page.text), "account": account, "reason": "bulk messaging",
              "identifiers": "device:abc123\n payment:card-9 \n"},
    )  # fmt: skip
    assert reply.status_code == 303
    banned = await signed_in.get(reply.headers["location"])
    assert f"Banned {account}." in banned.text
    assert "Banned: bulk messaging" in banned.text and 'id="unban"' in banned.text
    got = await console_env.account(account)
    assert got.banned and got.ban_reason == "bulk messaging"
    # Its identifiers are kept (hashed): a new account on the same device is refused.
    check = await console_env.send.CheckRegistration(
        pb.CheckRegistrationRequest(account=acct("again"), identifiers=["device:abc123"])
    )
    assert check.decision == pb.DENY and list(check.matched_banned_accounts) == [account]
    reply = await signed_in.post(
        "/account/unban", data={"csrf": csrf_of(banned.text), "account": account}
    )
    assert f"Unbanned {account}." in (await signed_in.get(reply.headers["location"])).text
    assert not (await console_env.account(account)).banned


async def test_a_ban_needs_a_reason(console_env: Env, signed_in: httpx.AsyncClient) -> None:
    account = acct("noreason")
    token = await csrf(signed_in)
    reply = await signed_in.post("/account/ban", data={"csrf": token, "account": account})
    assert "give a reason" in (await signed_in.get(reply.headers["location"])).text
    assert not (await console_env.account(account)).banned


async def test_account_page_shows_usage_and_linked_section(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    account = acct("usage")
    for i in range(3):
        await console_env.send.CanSend(
            pb.CanSendRequest(sender=account, recipient=acct("r"), message_id=f"m{i}")
        )
    page = await signed_in.get("/account", params={"id": account})
    assert '<b>3</b> of <b id="limit">5</b>' in page.text
    assert "Bulk score" in page.text and "Linked accounts" in page.text
    assert "No account shares an identifier with this one." in page.text
    assert 'id="under-review"' not in page.text and 'id="clear-review"' not in page.text


async def test_a_bad_account_id_is_explained(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/account", params={"id": "x" * 500})
    assert page.status_code == 502
    assert "account" in page.text and "Something went wrong" in page.text


async def test_the_admin_token_never_reaches_the_browser(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    account = acct("token")
    await console_env.request_exception(account)
    for path in ("/", f"/account?id={account}", "/events", "/events.json", "/static/events.js"):
        reply = await signed_in.get(path)
        assert ADMIN_TOKEN not in reply.text, path
        assert all(ADMIN_TOKEN not in v for v in reply.headers.values()), path
    assert all(ADMIN_TOKEN not in (c.value or "") for c in signed_in.cookies.jar)


async def test_security_headers(signed_in: httpx.AsyncClient) -> None:
    reply = await signed_in.get("/")
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["cache-control"] == "no-store"
    cookie = reply.headers.get("set-cookie", "")
    assert not cookie or ("httponly" in cookie.lower() and "samesite=strict" in cookie.lower())


# ------------------------------------------------------------------ events


async def test_events_page_filters_and_follows(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    account = acct("events")
    await console_env.request_exception(account)
    page = await signed_in.get("/events", params={"account": account})
    assert page.status_code == 200
    assert "exception_requested" in page.text and account in page.text
    after = re.search(r'data-after="([^"]*)"', page.text)
    assert after
    token = csrf_of(page.text)
    await signed_in.post(
        "/account/ban", data={"csrf": token, "account": account, "reason": "spam run"}
    )
    new = await signed_in.get("/events.json", params={"after": after.group(1), "account": account})
    kinds = [e["kind"] for e in new.json()["events"]]
    assert kinds == ["account_banned"]
    only = await signed_in.get("/events", params={"account": account, "kind": "account_banned"})
    assert "spam run" in only.text and "exception_requested</span>" not in only.text


async def test_queue_lists_flagged_accounts_with_counts(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    banned, evader = acct("banned"), acct("evader")
    await console_env.admin.BanAccount(
        pb.BanAccountRequest(account=banned, reason="spam", identifiers=["network:10.0.0.0/24"]),
        metadata=ADMIN_META,
    )
    check = await console_env.send.CheckRegistration(
        pb.CheckRegistrationRequest(account=evader, identifiers=["network:10.0.0.0/24"])
    )
    assert check.decision == pb.REVIEW
    page = await signed_in.get("/")
    row = re.search(rf"<tr>(?:(?!</tr>).)*{re.escape(evader)}(?:(?!</tr>).)*</tr>", page.text, re.S)
    assert row, "the evader is in the queue"
    assert "ban evasion" in row.group(0) and ">review<" in row.group(0)
    assert banned not in re.findall(r'id="flagged".*', page.text, re.S)[0]
    count = re.search(r'count ban_evasion"><b>(\d+)</b>', page.text)
    assert count and int(count.group(1)) >= 1
    assert "<svg" in page.text  # the chart


# ------------------------------------------------------------------ linked accounts


def row_of(html: str, table_id: str, account: str) -> str:
    """The row of `account` in the table `table_id` ("" when it has none)."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    if not table:
        return ""
    for row in re.findall(r"<tr[ >].*?</tr>", table.group(0), re.S):
        if f">{account}</a>" in row:
            return str(row)
    return ""


async def test_a_ban_in_the_console_flags_the_linked_account(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    owner, twin, neighbour = acct("owner"), acct("twin"), acct("neighbour")
    device, network = f"device:{acct('dev')}", f"network:{acct('net')}"
    await console_env.register(owner, device, network)
    await console_env.register(twin, device)
    await console_env.register(neighbour, network)  # weak: listed, never flagged
    page = await signed_in.get("/account", params={"id": owner})
    reply = await signed_in.post(
        "/account/ban", data={"csrf": csrf_of(page.text), "account": owner, "reason": "scam"}
    )
    banned = await signed_in.get(reply.headers["location"])
    twin_row = row_of(banned.text, "links", twin)
    assert "strong" in twin_row and ">device</span>" in twin_row
    assert "linked to banned" in twin_row and "flagged by this account's ban" in twin_row
    weak_row = row_of(banned.text, "links", neighbour)
    assert "weak" in weak_row and ">network</span>" in weak_row
    assert "linked to banned" not in weak_row

    page = await signed_in.get("/account", params={"id": twin})
    linked_banner = re.search(r'id="linked-to-banned".*?</div>', page.text, re.S)
    assert linked_banner and f'href="/account?id={owner}"' in linked_banner.group(0)
    assert ">device</span>" in linked_banner.group(0)
    assert 'id="under-review"' in page.text and "at most 10 new conversations a day" in page.text
    owner_row = row_of(page.text, "links", owner)
    assert "banned" in owner_row and "its ban flagged this account" in owner_row
    assert '<span class="chip linked_to_banned">linked to banned</span>' in page.text
    assert (
        '<span class="status in_review"' in page.text and 'class="chip in_review"' not in page.text
    )
    # Kinds only: no identifier value reaches a page.
    for html in (banned.text, page.text):
        assert device.partition(":")[2] not in html and network.partition(":")[2] not in html

    queue_page = await signed_in.get("/")
    flagged = row_of(queue_page.text, "flagged", twin)
    assert "linked to banned" in flagged and "in review" in flagged
    assert f'via <a class="acct" href="/account?id={owner}">{owner}</a>' in flagged
    assert "(device)" in flagged
    assert not row_of(queue_page.text, "flagged", neighbour)
    count = re.search(r'count linked_to_banned"><b>(\d+)</b>', queue_page.text)
    assert count and int(count.group(1)) >= 1


async def test_clear_review_from_the_account_page(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    owner, twin, device = acct("cr-owner"), acct("cr-twin"), f"device:{acct('cr')}"
    await console_env.register(owner, device)
    await console_env.register(twin, device)
    await console_env.admin.BanAccount(
        pb.BanAccountRequest(account=owner, reason="spam"), metadata=ADMIN_META
    )
    assert (await console_env.account(twin)).under_review
    page = await signed_in.get("/account", params={"id": twin})
    assert 'id="clear-review"' in page.text
    # Like every action: refused without the form's token.
    refused = await signed_in.post("/account/clear-review", data={"account": twin})
    assert refused.status_code == 403 and (await console_env.account(twin)).under_review
    form = {"csrf": csrf_of(page.text), "account": twin}
    reply = await signed_in.post("/account/clear-review", data=form)
    assert reply.status_code == 303 and reply.headers["location"] == f"/account?id={twin}"
    after = await signed_in.get(reply.headers["location"])
    assert f"Cleared the review of {twin}." in after.text
    assert 'id="under-review"' not in after.text
    got = await console_env.account(twin)
    assert not got.under_review and list(got.linked_to_banned) == [owner]  # the link stays
    assert 'id="linked-to-banned"' in after.text
    assert not row_of((await signed_in.get("/")).text, "flagged", twin)  # looked at
    again = await signed_in.post("/account/clear-review", data=form)
    assert "was not under review" in (await signed_in.get(again.headers["location"])).text


async def test_correct_the_record_and_evaluate_the_tier(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    account = acct("record")
    page = await signed_in.get("/account", params={"id": account})
    assert 'id="record-form"' in page.text and 'id="tier-form"' not in page.text
    form = {
        "csrf": csrf_of(page.text), "account": account, "kind": "BUSINESS",
        "business_verified": "yes", "registered": "2025-01-31",
    }  # fmt: skip
    assert (await signed_in.post("/account/record", data={**form, "csrf": ""})).status_code == 403
    reply = await signed_in.post("/account/record", data=form)
    assert reply.status_code == 303 and reply.headers["location"] == f"/account?id={account}"
    after = await signed_in.get(reply.headers["location"])
    assert f"Saved the record of {account}." in after.text
    got = await console_env.account(account)
    assert got.kind == pb.BUSINESS and got.business_verified and not got.identity_verified
    assert got.registered_at == 1738281600000  # 2025-01-31 00:00 UTC
    # An empty date keeps the one stored; an unreadable one changes nothing and says why.
    again = await signed_in.post("/account/record", data={**form, "registered": ""})
    assert (await console_env.account(account)).registered_at == 1738281600000
    bad = await signed_in.post("/account/record", data={**form, "registered": "last spring"})
    assert "Record not saved" in (await signed_in.get(bad.headers["location"])).text
    assert again.status_code == 303
    # A business gets the tier form; evaluating says where it stands and why.
    page = await signed_in.get("/account", params={"id": account})
    assert 'id="tier-form"' in page.text
    tier = await signed_in.post(
        "/account/evaluate-tier", data={"csrf": csrf_of(page.text), "account": account}
    )
    shown = (await signed_in.get(tier.headers["location"])).text
    assert "Stays at tier 1 (250 users / 24 h)" in shown


async def test_unban_in_the_console_lifts_the_link(
    console_env: Env, signed_in: httpx.AsyncClient
) -> None:
    owner, twin, device = acct("ub-owner"), acct("ub-twin"), f"payment:{acct('card')}"
    await console_env.register(owner, device)
    await console_env.register(twin, device)
    token = await csrf(signed_in)
    await signed_in.post("/account/ban", data={"csrf": token, "account": owner, "reason": "x"})
    assert row_of((await signed_in.get("/")).text, "flagged", twin)
    await signed_in.post("/account/unban", data={"csrf": token, "account": owner})
    got = await console_env.account(twin)
    assert not got.linked_to_banned and pb.LINKED_TO_BANNED not in got.usage.flags
    assert not row_of((await signed_in.get("/")).text, "flagged", twin)
    page = await signed_in.get("/account", params={"id": twin})
    assert 'id="linked-to-banned"' not in page.text
    assert "linked to banned" not in row_of(page.text, "links", owner)


async def test_forget_needs_a_confirmation(console_env: Env, signed_in: httpx.AsyncClient) -> None:
    account, other, device = acct("forget"), acct("forget-other"), f"device:{acct('fg')}"
    await console_env.register(account, device, "network:192.0.2.0/24")
    await console_env.register(other, device)
    assert await console_env.linked(other) == [account]
    token = await csrf(signed_in, f"/account?id={account}")
    reply = await signed_in.post("/account/forget", data={"csrf": token, "account": account})
    assert "tick the box" in (await signed_in.get(reply.headers["location"])).text
    assert await console_env.linked(other) == [account]
    data = {"csrf": token, "account": account, "confirm": "yes"}
    reply = await signed_in.post("/account/forget", data=data)
    page = await signed_in.get(reply.headers["location"])
    assert f"Erased 2 registration identifiers of {account}." in page.text
    assert await console_env.linked(other) == []
    assert "No account shares an identifier with this one." in page.text


# ------------------------------------------------------------------ the admin calls


class Recorder:
    """A stand-in sidecar admin API that remembers each BanAccount call's metadata."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def ban(
        self, request: pb.BanAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.BanAccountResponse:
        self.metadata.append({k: str(v) for k, v in context.invocation_metadata() or ()})
        return pb.BanAccountResponse()

    async def get(
        self, request: pb.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAccountResponse:
        return pb.GetAccountResponse(account=pb.Account(account=request.account))

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn: Any, req: Any, resp: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString, response_serializer=resp.SerializeToString
            )

        return grpc.method_handlers_generic_handler(
            "sendgate.v1.SendGateAdmin",
            {
                "BanAccount": unary(self.ban, pb.BanAccountRequest, pb.BanAccountResponse),
                "GetAccount": unary(self.get, pb.GetAccountRequest, pb.GetAccountResponse),
            },
        )


@pytest_asyncio.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, int]]:
    server = grpc.aio.server()
    servicer = Recorder()
    server.add_generic_rpc_handlers((servicer.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(0)


async def test_each_admin_call_names_the_reviewer(recorder: tuple[Recorder, int]) -> None:
    servicer, port = recorder
    thread = ConsoleThread(console_settings(port))
    thread.start()
    try:
        async with httpx.AsyncClient(base_url=thread.url, timeout=10) as client:
            page = await client.get("/login")
            form = {"csrf": csrf_of(page.text), "name": REVIEWER, "password": PASSWORD}
            await client.post("/login", data=form)
            token = await csrf(client, "/account?id=x-1")
            await client.post("/account/ban", data={"csrf": token, "account": "x-1", "reason": "r"})
    finally:
        thread.stop()
    assert len(servicer.metadata) == 1
    assert servicer.metadata[0]["x-sendgate-reviewer"] == REVIEWER
    assert servicer.metadata[0]["authorization"] == f"Bearer {ADMIN_TOKEN}"


# ------------------------------------------------------------------ other ways in


async def test_open_console_says_so_and_answers_loopback_names_only(console_env: Env) -> None:
    settings = console_settings(console_env.sidecar.grpc_port, reviewers={})
    assert not settings.has_credentials
    thread = ConsoleThread(settings)
    thread.start()
    try:
        async with httpx.AsyncClient(base_url=thread.url, timeout=10) as client:
            page = await client.get("/")
            assert page.status_code == 200
            assert "No reviewer credentials are configured" in page.text
            assert "listens on loopback only" in page.text
            rebound = await client.get("/", headers={"host": "console.evil.example"})
            assert rebound.status_code == 400
    finally:
        thread.stop()


def test_open_console_refuses_a_non_loopback_listen() -> None:
    with pytest.raises(ConsoleConfigError, match="loopback only"):
        load_console_settings(None, environ={}, listen="0.0.0.0:8080")
    # With reviewers configured any address is allowed.
    load_console_settings(None, environ={}, listen="0.0.0.0:8080", reviewers={"bob": PASSWORD_HASH})


async def test_a_trusted_proxy_names_the_reviewer(console_env: Env) -> None:
    port = console_env.sidecar.grpc_port
    settings = console_settings(port, reviewers={}, proxy_header="X-Remote-User")
    thread = ConsoleThread(settings)
    thread.start()
    try:
        async with httpx.AsyncClient(base_url=thread.url, timeout=10) as client:
            assert (await client.get("/")).status_code == 401
            page = await client.get("/", headers={"x-remote-user": "carol@example.org"})
            assert page.status_code == 200 and "carol@example.org" in page.text
            bad = await client.get("/", headers={"x-remote-user": "carol <script>"})
            assert bad.status_code == 401
    finally:
        thread.stop()
    distrusted = console_settings(
        console_env.sidecar.grpc_port,
        reviewers={},
        proxy_header="X-Remote-User",
        trusted_proxies=["10.1.2.3"],
    )
    thread = ConsoleThread(distrusted)
    thread.start()
    try:
        async with httpx.AsyncClient(base_url=thread.url, timeout=10) as client:
            page = await client.get("/", headers={"x-remote-user": "carol"})
            assert page.status_code == 401
    finally:
        thread.stop()


async def test_an_unreachable_sidecar_is_explained(console_env: Env) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = console_settings(dead_port, timeout_s=1)
    thread = ConsoleThread(settings)
    thread.start()
    try:
        async with httpx.AsyncClient(base_url=thread.url, timeout=10) as client:
            page = await client.get("/login")
            form = {"csrf": csrf_of(page.text), "name": REVIEWER, "password": PASSWORD}
            await client.post("/login", data=form)
            reply = await client.get("/")
            assert reply.status_code == 502
            assert "cannot be reached" in reply.text or "did not answer" in reply.text
    finally:
        thread.stop()


# ------------------------------------------------------------------ pure parts


def test_password_hashes() -> None:
    stored = auth.hash_password("s3cret")
    assert stored.startswith("scrypt$16384$8$1$")
    assert auth.verify_password("s3cret", stored)
    assert not auth.verify_password("s3cret ", stored)
    assert auth.hash_password("s3cret") != stored  # salted
    for bad in ("plain", "scrypt$3$8$1$AA$AA", "scrypt$16384$8$1$!!$AA", "md5$1$2$3$4$5"):
        with pytest.raises(ValueError):
            auth.parse_hash(bad)
    checker = auth.Authenticator({"bob": stored})
    assert checker.check("bob", "s3cret")
    assert not checker.check("bob", "nope") and not checker.check("eve", "s3cret")


def test_settings_errors_name_the_key_and_the_file(tmp_path: Any) -> None:
    path = tmp_path / "console.toml"
    path.write_text('listen = "127.0.0.1:8080"\ncolour = "blue"\n')
    with pytest.raises(ConsoleConfigError, match=rf"{re.escape(str(path))}: colour"):
        load_console_settings(str(path), environ={})
    path.write_text('[reviewers]\nbob = "plaintext"\n')
    with pytest.raises(ConsoleConfigError, match=r"reviewers: .*scrypt"):
        load_console_settings(str(path), environ={})
    with pytest.raises(ConsoleConfigError, match="SENDGATE_CONSOLE_COLOUR"):
        load_console_settings(None, environ={"SENDGATE_CONSOLE_COLOUR": "x"})


def test_settings_from_file_environment_and_flags(tmp_path: Any) -> None:
    path = tmp_path / "console.toml"
    path.write_text(
        f'target = "10.0.0.5:50051"\nchart_hours = 6\n[reviewers]\nbob = "{PASSWORD_HASH}"\n'
    )
    env = {"SENDGATE_ADMIN_TOKEN": "t0k", "SENDGATE_CONSOLE_CHART_HOURS": "24"}
    s = load_console_settings(str(path), environ=env, listen="0.0.0.0:9000")
    assert (s.target, s.chart_hours, s.listen) == ("10.0.0.5:50051", 24, "0.0.0.0:9000")
    assert s.admin_token.get_secret_value() == "t0k" and "t0k" not in repr(s)
    assert list(s.reviewers) == ["bob"]


def test_expiry_as_people_write_it() -> None:
    now = 1_700_000_000_000
    assert timefmt.parse_expiry("7d", now) == now + 7 * 86_400_000
    assert timefmt.parse_expiry(" 12h ", now) == now + 12 * 3_600_000
    assert timefmt.parse_expiry("2w", now) == now + 14 * 86_400_000
    assert timefmt.parse_expiry("2026-04-01", now) == 1_775_001_600_000
    assert timefmt.parse_expiry("2026-04-01T02:00+02:00", now) == 1_775_001_600_000
    with pytest.raises(ValueError, match="write 7d"):
        timefmt.parse_expiry("next week", now)
    assert timefmt.show(1_775_001_600_000) == "2026-04-01 00:00 UTC"
    assert timefmt.ago(now - 90_000, now) == "1m ago" and timefmt.ago(0, now) == "—"


def _ev(i: int, kind: str, account: str, **attrs: str) -> EventInfo:
    return EventInfo(f"{1000 + i}-0", kind, account, 1000 + i, attrs)


def test_queue_from_events() -> None:
    events = [
        _ev(1, "flag_raised", "a", flag="quality_low"),
        _ev(2, "ban_evasion", "b", decision="REVIEW"),
        _ev(3, "flag_raised", "b", flag="ban_evasion"),
        _ev(4, "flag_raised", "c", flag="bulk_suspected"),
        _ev(5, "account_banned", "c"),
        _ev(6, "flag_raised", "d", flag="quality_low"),
        _ev(7, "flag_cleared", "d", flag="quality_low"),
        _ev(8, "ban_evasion", "e", decision="DENY"),
        # As the sidecar appends them: under the linked account, naming the banned one.
        _ev(9, "account_linked", "f", banned_account="x", shared_kinds="device,payment"),
        _ev(10, "limit_hit", "g", limit="monthly_unreplied"),
    ]
    items = queue.build(events)
    assert [i.account for i in items] == ["f", "b", "a"]
    assert items[0].reasons == {"LINKED_TO_BANNED"}
    assert items[0].linked_to == {"x": "device, payment"}
    assert items[1].reasons == {"REVIEW", "BAN_EVASION"}
    counts = queue.counts(items)
    assert counts == {"REVIEW": 1, "BAN_EVASION": 1, "LINKED_TO_BANNED": 1,
                      "BULK_SUSPECTED": 0, "QUALITY_LOW": 1}  # fmt: skip


def test_queue_follows_links_and_reviews() -> None:
    linked = [
        _ev(1, "account_linked", "f", banned_account="x", shared_kinds="device"),
        _ev(2, "account_linked", "f", banned_account="y", shared_kinds="payment"),
        _ev(3, "account_linked", "h", banned_account="x", shared_kinds="device"),
        _ev(4, "flag_raised", "h", flag="quality_low"),
        _ev(5, "account_linked", "k", banned_account="x", shared_kinds="device"),
    ]
    # x's unban: f is still linked to y (cleared=0), h loses the flag, k is settled.
    unlinked = [
        _ev(6, "account_unlinked", "f", banned_account="x", cleared="0"),
        _ev(7, "account_unlinked", "h", banned_account="x", cleared="1"),
        _ev(8, "account_unlinked", "k", banned_account="x", cleared="1"),
    ]
    items = {i.account: i for i in queue.build(linked + unlinked)}
    assert set(items) == {"f", "h"}
    assert items["f"].reasons == {"LINKED_TO_BANNED"} and items["f"].linked_to == {"y": "payment"}
    assert items["h"].reasons == {"QUALITY_LOW"} and items["h"].linked_to == {}
    # A cleared review, a ban or an erasure settles the account.
    for kind in ("review_cleared", "account_banned", "account_forgotten"):
        assert queue.build([*linked[:1], _ev(9, kind, "f")]) == []


def test_event_selection() -> None:
    events = [_ev(i, "limit_hit" if i % 2 else "flag_raised", f"a{i % 3}") for i in range(10)]
    assert [e.id for e in tail.select(events, frozenset({"limit_hit"}), "a1")] == [
        "1001-0", "1007-0"
    ]  # fmt: skip
    assert [e.id for e in tail.select(events, after_id="1007-0")] == ["1008-0", "1009-0"]
    assert tail.id_key("1700-3") < tail.id_key("1700-12") < tail.id_key("1701-0")


def test_hourly_chart() -> None:
    hour = charts.HOUR_MS
    now = 100 * hour + 10
    events = [
        EventInfo("1-0", "limit_hit", "a", now - 1, {"limit": "username"}),
        EventInfo("2-0", "limit_hit", "a", now - hour, {"limit": "monthly_unreplied"}),
        EventInfo("3-0", "account_banned", "a", now - 2 * hour, {}),
        EventInfo("4-0", "flag_raised", "a", now - 30 * hour, {}),
        EventInfo("5-0", "exception_requested", "a", now, {}),
    ]
    buckets = charts.hourly(events, now, 3)
    assert buckets == [{"account_banned": 1}, {"monthly_unreplied": 1}, {"username": 1}]
    svg = charts.stacked_bars(buckets, now, "Test <chart>")
    assert svg.startswith("<svg") and svg.count("<rect") == 3
    assert "Test &lt;chart&gt;" in svg and "Banned: 1" in svg


def test_safe_next() -> None:
    assert safe_next("/account?id=a") == "/account?id=a"
    for bad in ("//evil.example", "https://evil.example/", "javascript:alert(1)", "/\\evil", 3):
        assert safe_next(bad) == "/"
