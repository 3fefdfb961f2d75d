"""The reviewer console in a real browser: headless Chromium from the system's packages.

Selenium drives /usr/bin/chromium through /usr/bin/chromedriver (nothing is downloaded).
The sidecar runs on a Redis of its own, so the queue holds only this scenario's
accounts; the screenshots of the queue and of an account page go to
$CONSOLE_TEST_SCREENSHOTS (docs/ for the README), else to a temporary folder.
Browser calls block, so they run in a worker thread while the sidecar keeps serving
on the test loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import pytest_asyncio
from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import ServerFactory
from tests.test_console import (
    ADMIN_TOKEN,
    PASSWORD,
    REVIEWER,
    ConsoleThread,
    console_settings,
)

CHROMIUM = os.environ.get("CONSOLE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONSOLE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
# Screenshots go to a temporary folder unless asked for (they differ every run):
# CONSOLE_TEST_SCREENSHOTS=docs refreshes the README's.
SHOTS_ENV = "CONSOLE_TEST_SCREENSHOTS"
WAIT_S = 15
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
T = TypeVar("T")

_missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
if _missing and os.environ.get("CONSOLE_TEST_BROWSER") == "required":
    raise RuntimeError(f"browser tests required but missing: {', '.join(_missing)}")
pytestmark = pytest.mark.skipif(
    bool(_missing), reason=f"no system Chromium/chromedriver ({', '.join(_missing)})"
)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:4]}"


@dataclass
class Scene:
    url: str
    send: pb_grpc.SendGateStub
    admin: pb_grpc.SendGateAdminStub
    bakery: str
    bakery_request: str
    evader: str
    banned: str
    ring: str  # to be banned in the browser
    ring_twin: str  # shares its device: linked by that ban
    ring_neighbour: str  # shares only its network: listed, not flagged

    async def account(self, account: str) -> pb.Account:
        reply = await self.admin.GetAccount(
            pb.GetAccountRequest(account=account), metadata=_ADMIN_META
        )
        got: pb.Account = reply.account
        return got


_ADMIN_META = [("authorization", f"Bearer {ADMIN_TOKEN}")]


async def _populate(send: pb_grpc.SendGateStub, admin: pb_grpc.SendGateAdminStub) -> Scene:
    """A morning's queue: three exception requests, a ban, an evader, some usage."""
    bakery, doctor, phone = _name("sunny-bakery"), _name("dr-okafor"), _name("new-phone")
    banned, evader, denied = _name("promo-blast"), _name("promo-blast-b"), _name("promo-blast-c")
    requests = [
        (phone, pb.RECONNECTING_AFTER_NEW_PHONE, "Lost my phone, writing to my contacts again"),
        (doctor, pb.REACHING_NEW_PERSONAL_CONNECTIONS, "New practice: reaching patients"),
        (bakery, pb.INVITING_TO_LARGE_EVENT, "Summer market on 14 June: inviting 300 regulars"),
    ]
    await admin.UpsertAccount(
        pb.UpsertAccountRequest(
            account=bakery, kind=pb.PERSONAL, registered_at=int(time.time() * 1000) - 400 * DAY_MS
        ),
        metadata=_ADMIN_META,
    )
    ids = {}
    for account, reason, note in requests:
        reply = await send.RequestException(
            pb.RequestExceptionRequest(account=account, reason=reason, note=note)
        )
        ids[account] = reply.request_id
    for account, count in ((bakery, 42), (doctor, 17), (phone, 48)):
        for i in range(count):
            await send.CanSend(
                pb.CanSendRequest(sender=account, recipient=f"{account}-r{i}", message_id=f"m{i}")
            )
    await admin.BanAccount(
        pb.BanAccountRequest(
            account=banned, reason="bulk promotions, 40 spam reports",
            identifiers=["device:7d1e0c", "network:203.0.113.0/24"],
        ),
        metadata=_ADMIN_META,
    )  # fmt: skip
    for account, identifiers in ((evader, ["network:203.0.113.0/24"]), (denied, ["device:7d1e0c"])):
        await send.CheckRegistration(
            pb.CheckRegistrationRequest(account=account, identifiers=identifiers)
        )
    ring, twin, neighbour = await _ring(send)
    await _history(send, admin)
    return Scene("", send, admin, bakery, ids[bakery], evader, banned, ring, twin, neighbour)


async def _ring(send: pb_grpc.SendGateStub) -> tuple[str, str, str]:
    """A loan scam run from one phone: its support account shares the device, a café
    customer only the network. Nobody is banned yet: the reviewer bans the ring."""
    ring, twin, neighbour = _name("quick-loans"), _name("ql-support"), _name("cafe-guest")
    for account, identifiers in (
        (ring, ["device:a41f9b", "payment:card-7731", "network:198.51.100.0/24"]),
        (twin, ["device:a41f9b", "network:198.51.100.0/24"]),
        (neighbour, ["network:198.51.100.0/24"]),
    ):
        await send.CheckRegistration(
            pb.CheckRegistrationRequest(account=account, identifiers=identifiers)
        )
    for account, count in ((ring, 50), (twin, 31)):
        for i in range(count):
            await send.CanSend(
                pb.CanSendRequest(sender=account, recipient=f"{account}-r{i}", message_id=f"m{i}")
            )
    await send.RequestException(
        pb.RequestExceptionRequest(
            account=twin, reason=pb.TALKING_TO_CUSTOMERS_OR_EMPLOYEES,
            note="Support desk answering our loan customers",
        )
    )  # fmt: skip
    return ring, twin, neighbour


async def _history(send: pb_grpc.SendGateStub, admin: pb_grpc.SendGateAdminStub) -> None:
    """Earlier hours: accounts reaching their monthly and username limits, two bans."""
    now = int(time.time() * 1000)
    for hours_ago, via in ((9, 1), (7, 1), (6, 2), (5, 1), (4, 1), (4, 2), (2, 1), (1, 2)):
        sender, at = _name("sender"), now - hours_ago * HOUR_MS
        limit = 50 if via == 1 else 10
        batch = [
            pb.CanSendRequest(
                sender=sender, recipient=f"{sender}-r{i}", message_id=f"h{i}",
                via=via, at_unix_ms=at + i,  # type: ignore[arg-type]
            )
            for i in range(limit + 1)
        ]  # fmt: skip
        await send.CanSendBatch(pb.CanSendBatchRequest(requests=batch))
    for hours_ago in (8, 3):
        await admin.BanAccount(
            pb.BanAccountRequest(
                account=_name("spam-ring"), reason="spam reports",
                at_unix_ms=now - hours_ago * HOUR_MS,
            ),
            metadata=_ADMIN_META,
        )  # fmt: skip


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisProcess]:
    proc = RedisProcess(port=free_port())
    proc.start()
    yield proc
    proc.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def scene(server_factory: ServerFactory, own_redis: RedisProcess) -> AsyncIterator[Scene]:
    sidecar = await server_factory(
        redis_url=own_redis.url,
        limits={"personal_monthly": 50, "username_monthly": 10},
        auth={"admin_token": ADMIN_TOKEN},
        ban_evasion={"hmac_key": "browser-tests-hmac-key"},
        bulk={"enabled": False},
    )
    thread = ConsoleThread(console_settings(sidecar.grpc_port))
    thread.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
            s = await _populate(pb_grpc.SendGateStub(channel), pb_grpc.SendGateAdminStub(channel))
            s.url = thread.url
            yield s
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="sendgate-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1360,900", "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking browser steps in a thread: the sidecar serves on this loop meanwhile."""
    return await asyncio.to_thread(fn, *args)


def _wait(driver: WebDriver, css: str, text: str = "") -> Any:
    def found(d: WebDriver) -> Any:
        for el in d.find_elements(By.CSS_SELECTOR, css):
            try:
                if text in el.text:
                    return el
            except WebDriverException as exc:
                # Chromium reports an element of a page being replaced this way too.
                if "does not belong to the document" not in str(exc):
                    raise
                return False
        return False

    # The page may be replaced between finding an element and reading it (a navigation
    # in flight): such an element is stale, and the next poll looks again.
    wait = WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))
    try:
        return wait.until(found)
    except TimeoutException:
        raise AssertionError(f"no {css!r} with {text!r} on {driver.current_url}") from None


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get(SHOTS_ENV)
    return Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")


def _screenshot(driver: WebDriver, path: Path) -> None:
    """A full-page capture: the viewport is stretched to the page's height (bounded)."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    height = min(max(int(metrics["cssContentSize"]["height"]), 600), 4000)
    override = {"width": 1360, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", override)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _sign_in(driver: WebDriver, url: str) -> None:
    driver.get(url + "/")
    _wait(driver, "h1", "Sign in")
    driver.find_element(By.NAME, "name").send_keys(REVIEWER)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    _wait(driver, "h1", "Review queue")


def _sign_in_if_asked(driver: WebDriver, url: str) -> None:
    """Tests share the browser: sign in unless an earlier test did."""
    driver.get(url + "/")
    _wait(driver, "h1")
    if driver.find_elements(By.CSS_SELECTOR, "form[action='/login']"):
        _sign_in(driver, url)


def _approve(driver: WebDriver, s: Scene) -> str:
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-request='{s.bakery_request}']")
    allowance = row.find_element(By.NAME, "allowance")
    allowance.clear()
    allowance.send_keys("100")
    expires = row.find_element(By.NAME, "expires")
    expires.clear()
    expires.send_keys("14d")
    row.find_element(By.NAME, "note").send_keys("market confirmed on their site")
    row.find_element(By.CSS_SELECTOR, "button[value='approve']").click()
    _wait(driver, ".flash.ok", f"Approved {s.bakery}: +100")
    _open_account(driver, s.bakery)
    return str(_wait(driver, "#limit").text)


def _open_account(driver: WebDriver, account: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, "form.search input[name='id']")
    box.send_keys(account)
    box.submit()
    _wait(driver, "h1", account)


def _ban(driver: WebDriver, s: Scene) -> str:
    _open_account(driver, s.evader)
    driver.find_element(By.NAME, "reason").send_keys("same network as a banned promo sender")
    driver.find_element(By.ID, "ban").click()
    _wait(driver, ".flash.ok", f"Banned {s.evader}.")
    return str(_wait(driver, ".banner.danger").text)


async def test_reviewer_in_a_browser(scene: Scene, browser: WebDriver) -> None:
    await off_loop(_sign_in, browser, scene.url)
    queue_text = await off_loop(lambda: browser.find_element(By.TAG_NAME, "main").text)
    assert scene.bakery in queue_text and "Summer market" in queue_text
    assert scene.evader in queue_text  # REVIEW at registration, flagged ban evasion

    # Approve the bakery's request: its limit rises from 50 to 150.
    assert (await scene.account(scene.bakery)).usage.limit == 50
    limit = await off_loop(_approve, browser, scene)
    assert limit == "150"
    assert (await scene.account(scene.bakery)).usage.limit == 150

    # Ban the evader from its account page.
    banner = await off_loop(_ban, browser, scene)
    assert "Banned: same network as a banned promo sender" in banner
    got = await scene.account(scene.evader)
    assert got.banned and got.ban_reason == "same network as a banned promo sender"


def _ban_the_ring(driver: WebDriver, s: Scene) -> str:
    """Ban the ring from its page; its linked accounts table then shows the twin flagged."""
    _open_account(driver, s.ring)
    _wait(driver, f"#links tr[data-account='{s.ring_twin}']", "strong")
    driver.find_element(By.NAME, "reason").send_keys("loan scam, 12 spam reports")
    driver.find_element(By.ID, "ban").click()
    _wait(driver, ".flash.ok", f"Banned {s.ring}.")
    return str(_wait(driver, f"#links tr[data-account='{s.ring_twin}']", "linked to banned").text)


def _follow_to_twin(driver: WebDriver, s: Scene) -> tuple[str, str]:
    """From the banned ring's page to its twin's, through the link in the table."""
    driver.find_element(By.CSS_SELECTOR, f"#links tr[data-account='{s.ring_twin}'] a.acct").click()
    _wait(driver, "h1", s.ring_twin)
    banner = _wait(driver, "#linked-to-banned", s.ring).text
    heading = driver.find_element(By.CSS_SELECTOR, ".heading").text
    return str(banner), str(heading)


def _back_to_ring(driver: WebDriver, s: Scene) -> str:
    driver.find_element(By.CSS_SELECTOR, "#linked-to-banned a.acct").click()
    _wait(driver, "h1", s.ring)
    return str(_wait(driver, ".banner.danger").text)


def _queue_row(driver: WebDriver, account: str) -> str:
    driver.find_element(By.LINK_TEXT, "Queue").click()
    _wait(driver, "h1", "Review queue")
    return str(_wait(driver, "#flagged tbody tr", account).text)


def _clear_review(driver: WebDriver, s: Scene) -> None:
    _open_account(driver, s.ring_twin)
    driver.find_element(By.ID, "clear-review").click()
    _wait(driver, ".flash.ok", f"Cleared the review of {s.ring_twin}.")


async def test_a_ban_reaches_the_linked_account(
    scene: Scene, browser: WebDriver, shots: Path
) -> None:
    await off_loop(_sign_in_if_asked, browser, scene.url)
    before = await scene.account(scene.ring_twin)
    assert pb.LINKED_TO_BANNED not in before.usage.flags and not before.under_review

    row = await off_loop(_ban_the_ring, browser, scene)
    assert "device" in row and "flagged by this account's ban" in row
    banner, heading = await off_loop(_follow_to_twin, browser, scene)
    assert "Linked to a banned account" in banner and "device" in banner
    assert "linked to banned" in heading.lower() and "in review" in heading.lower()
    twin = await scene.account(scene.ring_twin)
    assert list(twin.linked_to_banned) == [scene.ring] and twin.under_review
    assert pb.LINKED_TO_BANNED in twin.usage.flags
    # Under review: the page shows the day's new conversations against the daily limit.
    assert twin.usage.HasField("new_conversations_limit")
    daily = await off_loop(lambda: browser.find_element(By.ID, "daily").text)
    usage = twin.usage
    assert daily == f"{usage.new_conversations_today} of {usage.new_conversations_limit}"
    links = await off_loop(lambda: browser.find_element(By.ID, "links").text)
    assert scene.ring in links and scene.ring_neighbour in links and "weak" in links
    assert "a41f9b" not in await off_loop(lambda: browser.page_source)  # kinds, never values
    await off_loop(_screenshot, browser, shots / "console-account.png")

    assert "loan scam" in await off_loop(_back_to_ring, browser, scene)
    queued = await off_loop(_queue_row, browser, scene.ring_twin)
    assert "linked to banned" in queued and f"via {scene.ring}" in queued
    await off_loop(_screenshot, browser, shots / "console-queue.png")

    await off_loop(_clear_review, browser, scene)
    assert not (await scene.account(scene.ring_twin)).under_review


async def test_events_page_in_a_browser(scene: Scene, browser: WebDriver) -> None:
    await off_loop(_sign_in_if_asked, browser, scene.url)
    await off_loop(browser.get, scene.url + "/events")
    await off_loop(_wait, browser, "#events tbody tr", "account_banned")
    await off_loop(_wait, browser, "svg.chart")
    # A new event shows up without a reload: the page follows the stream.
    late = _name("late-request")
    await scene.send.RequestException(
        pb.RequestExceptionRequest(account=late, reason=pb.INVITING_TO_LARGE_EVENT, note="gala")
    )
    row = await off_loop(_wait, browser, "#events tbody tr.fresh", late)
    assert "exception_requested" in row.text
    # Filter by account and kind.
    await off_loop(browser.get, f"{scene.url}/events?kind=account_banned&account={scene.banned}")
    rows = await off_loop(lambda: browser.find_elements(By.CSS_SELECTOR, "#events tbody tr"))
    texts = [await off_loop(lambda r=r: r.text) for r in rows]
    assert texts and all("account_banned" in t and scene.banned in t for t in texts)
