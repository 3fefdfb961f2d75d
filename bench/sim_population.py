"""The simulator's population: adversary and honest classes, each with randomised parameters.

Every account draws its own parameters (rates, sizes, reply and report odds) from wide
ranges, so a model fitted on some seeds meets different accounts on others. Nothing
here talks to a server: `build` returns timed messages and the setup they need.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

START = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
YEAR = 365 * DAY

ADVERSARIES = ("blaster", "bot", "fresh", "farm", "hijack", "drip", "evader_weak")
HONEST = ("ordinary", "teacher", "organizer", "reconnector", "business", "reply")
CLASSES = ADVERSARIES + HONEST


@dataclass(order=True)
class Msg:
    """One event in simulated time: a message, or feedback on its sender."""

    at: int
    sender: str = field(compare=False)
    recipient: str = field(compare=False)
    cls: str = field(compare=False)
    reply_p: float = field(compare=False, default=0.0)  # chance the recipient answers
    report_p: float = field(compare=False, default=0.0)  # chance the recipient reports it
    bad: bool = field(compare=False, default=False)  # an adversary's message (label 1)
    tally: bool = field(compare=False, default=True)  # counted in the table (not warm-up)
    feedback: bool = field(compare=False, default=False)  # a spam report, not a message


@dataclass
class Account:
    """Set-up of one account before its messages: kind, age, exception, opt-ins."""

    name: str
    cls: str
    registered_at: int
    business: bool = False
    exception: tuple[int, int] | None = None  # (ExceptionReason value, extra allowance)
    customers: list[str] = field(default_factory=list)
    # Identifiers registered (weak evaders register before they send).
    identifiers: list[str] = field(default_factory=list)


@dataclass
class Evader:
    """A banned account's owner registering again with some identifiers changed."""

    banned: str
    ban_ids: list[str]
    account: str
    new_ids: list[str]
    strong: bool  # shares a strong identifier (device or payment) with the ban


@dataclass(order=True)
class Registration:
    """A CheckRegistration with no ban behind it: one of a crowd on a shared network."""

    at: int
    account: str = field(compare=False)
    identifiers: list[str] = field(compare=False)
    cls: str = field(compare=False)  # "campus" (honest) or "farm" (a farm's sign-ups)
    index: int = field(compare=False, default=0)  # its place in its crowd (0-based)


@dataclass
class Population:
    """Everything one seed's run needs."""

    messages: list[Msg]
    accounts: dict[str, Account]
    evaders: list[Evader]
    registrations: list[Registration] = field(default_factory=list)


# Exception reasons (sendgate.v1 ExceptionReason values), kept as ints so this module
# needs no stubs.
EVENT_REASON, RECONNECT_REASON = 3, 4


class _Builder:
    def __init__(self, rng: random.Random, days: int) -> None:
        self.rng, self.days = rng, days
        self.msgs: list[Msg] = []
        self.accounts: dict[str, Account] = {}
        self.evaders: list[Evader] = []
        self.registrations: list[Registration] = []
        self.end = START + days * DAY

    def account(self, name: str, cls: str, registered_at: int, **kw: object) -> Account:
        a = Account(name, cls, registered_at, **kw)  # type: ignore[arg-type]
        self.accounts[name] = a
        return a

    def human_gaps(self, median_ms: float, sigma: float, n: int) -> list[int]:
        """n intervals, lognormal around a median: people pause unevenly."""
        return [max(1_000, int(self.rng.lognormvariate(0, sigma) * median_ms)) for _ in range(n)]

    def burst(
        self,
        s: str,
        cls: str,
        at: int,
        n: int,
        median_ms: float,
        sigma: float,
        reply_p: float,
        report_p: float,
        bad: bool,
        prefix: str = "t",
    ) -> int:
        """n messages to new strangers from `at`; returns the last message's time."""
        for k, gap in enumerate(self.human_gaps(median_ms, sigma, n)):
            at += gap
            if at >= self.end:
                break
            self.msgs.append(Msg(at, s, f"{prefix}-{s}-{k}", cls, reply_p, report_p, bad))
        return at

    def friends(
        self,
        s: str,
        cls: str,
        n_friends: int,
        per_day: tuple[int, int],
        until: int | None = None,
        tally: bool = True,
    ) -> None:
        """Friends who wrote before the run (a conversation), then daily chats with them."""
        rng = self.rng
        pals = [f"pal-{s}-{j}" for j in range(n_friends)]
        for p in pals:  # their earlier message opens the conversation window
            self.msgs.append(Msg(START - rng.randint(1, 20) * DAY, p, s, cls, 0.0, tally=False))
        stop = self.end if until is None else until
        for d in range(self.days):
            for _ in range(rng.randint(*per_day)):
                at = START + d * DAY + rng.randint(7 * HOUR, 23 * HOUR)
                if at < stop:
                    self.msgs.append(Msg(at, s, rng.choice(pals), cls, 0.8, tally=tally))

    # -- adversaries ---------------------------------------------------------------

    def blasters(self, n: int) -> None:
        for i in range(n):
            s, rng = f"blaster-{i}", self.rng
            self.account(s, "blaster", START - rng.randint(5, 400) * DAY)
            at = START + rng.randint(0, self.days * DAY // 2)
            per_day = rng.randint(150, 500)
            self.burst(
                s,
                "blaster",
                at,
                per_day * self.days // 2,
                DAY / per_day / 3,
                rng.uniform(0.6, 1.5),
                rng.uniform(0, 0.03),
                rng.uniform(0, 0.05),
                True,
            )

    def bots(self, n: int) -> None:
        for i in range(n):
            s, rng = f"bot-{i}", self.rng
            self.account(s, "bot", START - rng.randint(5, 400) * DAY)
            at, step = START + rng.randint(0, DAY), rng.randint(30_000, 300_000)
            jitter = rng.choice((0, 0, 50, 500, 2_000))  # some bots add a little noise
            for k in range(min(400, (self.end - at) // step)):
                t = at + k * step + (rng.randint(-jitter, jitter) if jitter else 0)
                self.msgs.append(Msg(t, s, f"t-{s}-{k}", "bot", 0.01, rng.uniform(0, 0.03), True))

    def fresh(self, n: int) -> None:
        for i in range(n):
            s, rng = f"fresh-{i}", self.rng
            at = START + rng.randint(0, self.days * DAY - 3 * HOUR)
            self.account(s, "fresh", at)
            self.burst(
                s,
                "fresh",
                at + rng.randint(MIN, HOUR),
                rng.randint(40, 120),
                rng.uniform(5_000, 60_000),
                0.8,
                0.02,
                rng.uniform(0, 0.05),
                True,
            )

    def farms(self, n: int) -> None:
        for i in range(n):
            rng = self.rng
            at0 = START + rng.randint(0, self.days * DAY - 3 * HOUR)
            for j in range(rng.randint(8, 25)):  # many fresh accounts, each small
                s = f"farm-{i}-{j}"
                reg = at0 + rng.randint(0, 6 * HOUR)
                self.account(s, "farm", reg)
                n_msgs = rng.randint(15, 35)  # a couple of dozen strangers over an hour
                self.burst(
                    s,
                    "farm",
                    reg + rng.randint(10 * MIN, 3 * HOUR),
                    n_msgs,
                    rng.uniform(40, 90) * MIN / n_msgs,
                    rng.uniform(0.5, 1.2),
                    rng.uniform(0, 0.05),
                    rng.uniform(0, 0.04),
                    True,
                )

    def hijacks(self, n: int) -> None:
        for i in range(n):
            s, rng = f"hijack-{i}", self.rng
            self.account(s, "hijack", START - rng.randint(2, 8) * YEAR)
            at = START + rng.randint(DAY, max(DAY + 1, self.days * DAY - 3 * HOUR))
            # Years of real conversations: friends, daily chats until the hijack.
            self.friends(s, "hijack", rng.randint(8, 30), (5, 25), until=at)
            n_msgs = rng.randint(200, 600)  # hundreds of strangers in two hours
            self.burst(
                s,
                "hijack",
                at,
                n_msgs,
                rng.uniform(90, 150) * MIN / n_msgs,
                rng.uniform(0.4, 1.2),
                rng.uniform(0, 0.03),
                rng.uniform(0, 0.05),
                True,
            )

    def drips(self, n: int) -> None:
        for i in range(n):
            s, rng = f"drip-{i}", self.rng
            self.account(s, "drip", START - rng.randint(60, 2000) * DAY)
            median = rng.uniform(3, 12) * MIN  # a stranger every few minutes, all day
            count = int((self.end - START) / median)
            self.burst(
                s,
                "drip",
                START + rng.randint(0, HOUR),
                count,
                median,
                rng.uniform(0.2, 0.9),
                rng.uniform(0, 0.03),
                rng.uniform(0, 0.03),
                True,
            )

    def evaders_(self, n: int) -> None:
        rng = self.rng
        for i in range(n):
            ids = [
                f"device:dev-{i}",
                f"payment:card-{i}",
                f"network:net-{i}",
                f"phone_prefix:+4479{i % 10}",
            ]
            new_dev, new_pay = f"device:dev-new-{i}", f"payment:card-new-{i}"
            roll = rng.random()
            if i < 2:  # even a tiny population has one of each
                roll = 0.0 if i == 0 else 0.99
            if roll < 0.35:
                new_ids, strong = [ids[0], f"network:net-new-{i}"], True  # same phone
            elif roll < 0.5:
                new_ids, strong = [new_dev, ids[1]], True  # new phone, same card
            else:  # new device and payment, same network (and sometimes phone prefix)
                new_ids = [new_dev, new_pay, ids[2]] + ([ids[3]] if rng.random() < 0.5 else [])
                strong = False
            acct = f"evader-{i}"
            self.evaders.append(Evader(f"banned-{i}", ids, acct, new_ids, strong))
            if strong:
                continue  # denied at registration: they do not get to send
            reg = START + rng.randint(HOUR, self.days * DAY - 4 * HOUR)
            self.account(acct, "evader_weak", reg, identifiers=new_ids)
            self.burst(
                acct,
                "evader_weak",
                reg + rng.randint(10 * MIN, 2 * HOUR),
                rng.randint(30, 150),
                rng.uniform(1, 6) * MIN,
                rng.uniform(0.4, 1.2),
                0.02,
                rng.uniform(0, 0.04),
                True,
            )

    # -- honest ----------------------------------------------------------------------

    def ordinary(self, n: int) -> None:
        rng = self.rng
        for i in range(n):
            s = f"person-{i}"
            self.account(s, "ordinary", START - rng.randint(30, 3000) * DAY)
            self.friends(s, "ordinary", rng.randint(3, 15), (2, 20))
            for d in range(self.days):  # a few new contacts a day, who often answer
                for k in range(rng.choice((0, 0, 1, 1, 2, 3))):
                    at = START + d * DAY + rng.randint(8 * HOUR, 22 * HOUR)
                    self.msgs.append(Msg(at, s, f"new-{s}-{d}-{k}", "ordinary", 0.6))

    def teachers(self, n: int) -> None:
        rng = self.rng
        for i in range(n):
            s = f"teacher-{i}"
            reg = START + rng.randint(0, self.days * DAY - 8 * HOUR)
            self.account(s, "teacher", reg)  # a new account: first day of school
            parents = rng.randint(15, 40)
            self.burst(
                s,
                "teacher",
                reg + rng.randint(5 * MIN, 2 * HOUR),
                parents,
                rng.uniform(20, 150) * MIN / parents,
                rng.uniform(0.3, 1.0),
                rng.uniform(0.5, 0.95),
                0.0,
                False,
                prefix="parent",
            )

    def organizers(self, n: int) -> None:
        rng = self.rng
        for i in range(n):
            s = f"organizer-{i}"
            invites = rng.randint(80, 400)
            self.account(
                s,
                "organizer",
                START - rng.randint(60, 3000) * DAY,
                exception=(EVENT_REASON, invites + 100),
            )
            self.friends(s, "organizer", rng.randint(3, 12), (2, 10))
            at = START + rng.randint(HOUR, self.days * DAY - 8 * HOUR)
            self.burst(
                s,
                "organizer",
                at,
                invites,
                rng.uniform(1, 6) * HOUR / invites,
                rng.uniform(0.3, 1.0),
                rng.uniform(0.2, 0.6),
                0.0,
                False,
                prefix="guest",
            )

    def reconnectors(self, n: int) -> None:
        rng = self.rng
        for i in range(n):
            s = f"reconnector-{i}"
            contacts = rng.randint(20, 150)
            exc = (
                (RECONNECT_REASON, contacts + 50) if contacts > 100 or rng.random() < 0.3 else None
            )
            self.account(s, "reconnector", START - rng.randint(200, 3000) * DAY, exception=exc)
            at = START + rng.randint(0, self.days * DAY - DAY // 2)
            self.burst(
                s,
                "reconnector",
                at,
                contacts,
                rng.uniform(1, 12) * HOUR / contacts,
                rng.uniform(0.4, 1.2),
                rng.uniform(0.5, 0.9),
                0.0,
                False,
                prefix="old",
            )

    def businesses(self, n: int) -> None:
        rng = self.rng
        for i in range(n):
            s = f"shop-{i}"
            customers = [f"customer-{i}-{c}" for c in range(rng.randint(100, 400))]
            self.account(
                s,
                "business",
                START - rng.randint(30, 2000) * DAY,
                business=True,
                customers=customers,
            )
            reply_p = rng.uniform(0.05, 0.4)
            for d in range(self.days):
                k = rng.randint(30, min(200, len(customers)))
                for c in rng.sample(customers, k):
                    at = START + d * DAY + rng.randint(9 * HOUR, 19 * HOUR)
                    self.msgs.append(Msg(at, s, c, "business", reply_p))

    # -- registration crowds (CheckRegistration only: they send nothing here) -------

    def campuses(self, n: int) -> None:
        """Honest people registering behind one shared network (a campus, an office NAT):
        1 to 3 per 10 minutes (Poisson arrivals) for 4 to 12 hours, each with their own
        device and phone (a phone prefix is a block of numbers: rarely shared)."""
        rng = self.rng
        for i in range(n):
            net = f"network:campus-{i}"
            per_ms = rng.uniform(1, 3) / (10 * MIN)
            at = START + rng.randint(0, max(1, self.days * DAY - 12 * HOUR))
            end = at + int(rng.uniform(4, 12) * HOUR)
            for k in range(10_000):  # bounded: 12 h at 3 per 10 min is about 216
                at += max(1_000, int(rng.expovariate(per_ms)))
                if at >= end:
                    break
                ids = [
                    f"device:campus-{i}-{k}",
                    net,
                    f"phone_prefix:+447{rng.randrange(100_000):05d}",
                ]
                self.registrations.append(Registration(at, f"student-{i}-{k}", ids, "campus", k))

    def farm_signups(self, n: int) -> None:
        """A farm registering 20 to 60 accounts behind one network with phones from one
        block of numbers, every account its own device, one every 20 s to 4 minutes
        (median, human-like jitter): the fast ones meet the velocity threshold."""
        rng = self.rng
        for i in range(n):
            net, prefix = f"network:farm-{i}", f"phone_prefix:+4475{i:03d}"
            count = rng.randint(20, 60)
            at = START + rng.randint(0, max(1, self.days * DAY - 6 * HOUR))
            for k, gap in enumerate(self.human_gaps(rng.uniform(1 / 3, 4) * MIN, 0.6, count)):
                at += gap
                ids = [f"device:farm-{i}-{k}", net, prefix]
                self.registrations.append(Registration(at, f"farmed-{i}-{k}", ids, "farm", k))


def build(rng: random.Random, scale: float, days: int) -> Population:
    """One seed's population; `scale` multiplies the number of accounts of each class."""
    b = _Builder(rng, max(2, days))

    def n(base: float) -> int:
        return max(1, round(base * scale))

    b.blasters(n(2))
    b.bots(n(2))
    b.fresh(n(3))
    b.farms(n(1))
    b.hijacks(n(3))
    b.drips(n(2))
    b.evaders_(n(16))
    b.ordinary(n(60))
    b.teachers(n(6))
    b.organizers(n(3))
    b.reconnectors(n(5))
    b.businesses(n(2))
    # Drawn last: the classes above see the same random numbers as before.
    b.campuses(n(4))
    b.farm_signups(n(6))
    b.msgs.sort()
    b.registrations.sort()
    return Population(b.msgs, b.accounts, b.evaders, b.registrations)
