"""Linked (duplicate) accounts and accounts under review (SPEC §1.3): the admin flows.

Every registration's identifiers are kept as keyed hashes (`kind:hmac`) in two places:
the identifier's index `sgr:{token}` (its own slot: which accounts registered with it)
and the account's `rid` hash (its slot: which tokens it registered with). A ban reads
the banned account's strong tokens, pages through each index and links every other
account found, one function call per account on its own slot, pipelined in chunks.
Linking is a set insert of the cause, so a retried ban links nobody twice; the banned
account's `lkd` set remembers whom it linked, so its unban lifts exactly that.

Like Admin it knows no gRPC and no Redis command.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

from sendgate.domain import Event, LinkedAccount, ReviewState
from sendgate.evasion import HashedIdentifier
from sendgate.events import EventSink
from sendgate.guard import Deadline, Guard
from sendgate.months import wall_ms
from sendgate.store.redis_store import RedisStore

# Index entries read per call (ZRANGE page) and accounts linked per pipelined chunk:
# bounded memory and Redis time per round trip whatever the size of a device's crowd.
PAGE = 1000
CHUNK = 500
# At most this many accounts linked by one ban (per strong identifier, in total): a
# shared cybercafé device must not turn one ban into a million writes.
MAX_LINKED = 100_000
# ListLinkedAccounts answers at most this many accounts.
MAX_LINKS = 1000


def kind_of(token: str) -> str:
    """The readable kind of a `kind:hmac` token."""
    return token.partition(":")[0]


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Linked:
    def __init__(
        self, store: RedisStore, guard: Guard, events: EventSink,
        strong_kinds: frozenset[str], retention_ms: int,
    ) -> None:  # fmt: skip
        self._store = store
        self._guard = guard
        self._events = events
        self._strong = strong_kinds
        self._retention_ms = retention_ms

    def _fresh(self, at_ms: int) -> int:
        """Registrations at or after this time are within the retention."""
        return (at_ms or wall_ms()) - self._retention_ms

    # ------------------------------------------------------------ registration

    async def registered(
        self,
        account: str,
        hashed: Sequence[HashedIdentifier],
        found: Sequence[Sequence[str]],
        review: bool,
        at_ms: int,
        deadline: Deadline,
        velocity_kinds: frozenset[str] = frozenset(),
    ) -> dict[str, int]:
        """Keep a registration's tokens; link it to banned accounts it shares a strong
        identifier with (`found`: the banned accounts per token). Returns, per velocity
        kind among the tokens, the most other accounts that registered with one of its
        identifiers within the velocity window (counted in the same calls as the write)."""
        tokens = sorted({h.token for h in hashed})
        counted = {t for t in tokens if kind_of(t) in velocity_kinds}
        counts, _ = await self._guard.run(
            deadline(),
            lambda b: self._store.register(account, tokens, review, at_ms, b, counted),
            items=len(tokens) + 1,
        )
        crowd: dict[str, int] = {}
        for token, n in zip(tokens, counts, strict=True):
            if token in counted:
                kind = kind_of(token)
                crowd[kind] = max(crowd.get(kind, 0), n)
        causes: dict[str, set[str]] = {}
        for h, banned in zip(hashed, found, strict=True):
            if h.kind in self._strong:
                for cause in banned:
                    if cause != account:
                        causes.setdefault(cause, set()).add(h.kind)
        for cause, kinds in sorted(causes.items()):
            await self._link_all(cause, {account: kinds}, at_ms, deadline)
        return crowd

    async def put_under_review(
        self, account: str, hashed: Sequence[HashedIdentifier], at_ms: int, deadline: Deadline
    ) -> bool:
        """Under review after the registration was kept (a velocity REVIEW): the same
        account-side write as a weak-match REVIEW. True when newly under review."""
        tokens = sorted({h.token for h in hashed})
        started: bool = await self._guard.run(
            deadline(), lambda b: self._store.register_account(account, tokens, True, at_ms, b)
        )
        return started

    # ------------------------------------------------------------ ban and unban

    async def banned(self, account: str, at_ms: int, deadline: Deadline) -> int:
        """The ban of `account` reaches every account sharing a strong identifier with
        it. Returns how many were newly linked."""
        reg, ban = await self._guard.run(
            deadline(), lambda b: self._store.link_sources(account, at_ms, b)
        )
        strong = sorted({t for t in (*reg, *ban) if kind_of(t) in self._strong})
        fresh = self._fresh(at_ms)
        found: dict[str, set[str]] = {}
        for token in strong:
            kind = kind_of(token)
            # Bounded: MAX_LINKED / PAGE pages at most, each one ZRANGE on one slot.
            for start in range(0, MAX_LINKED, PAGE):
                read = partial(self._store.registered, [token], start, PAGE)
                (page,) = await self._guard.run(deadline(), read)
                for other, ms in page:
                    if other != account and ms >= fresh and len(found) < MAX_LINKED:
                        found.setdefault(other, set()).add(kind)
                if len(page) < PAGE:
                    break
        return await self._link_all(account, found, at_ms, deadline)

    async def _link_all(
        self, cause: str, found: dict[str, set[str]], at_ms: int, deadline: Deadline
    ) -> int:
        linked = 0
        for chunk in _chunks(sorted(found), CHUNK):
            note = partial(self._store.note_linked, cause, chunk)
            await self._guard.run(deadline(), note)
            link = partial(self._store.link, cause, chunk, at_ms)
            results = await self._guard.run(deadline(), link, items=len(chunk))
            items: list[tuple[str, Event]] = []
            for other, (new, banned) in zip(chunk, results, strict=True):
                if not new:
                    continue  # already linked by this ban: a retry, nothing twice
                linked += 1
                kinds = ",".join(sorted(found[other]))
                items.append((other, Event("account_linked", (
                    ("banned_account", cause), ("linked_account", other), ("shared_kinds", kinds),
                ))))  # fmt: skip
                if banned:
                    reason = f"linked to {cause}"
                    items.append((other, Event("account_banned", (
                        ("reason", reason), ("identifiers", "0"), ("caused_by", cause),
                    ))))  # fmt: skip
            await self._events.emit_many(at_ms, items)
        return linked

    async def unbanned(self, account: str, at_ms: int, deadline: Deadline) -> int:
        """Lift what the ban of `account` caused, and only that. Returns how many
        accounts were unlinked."""
        cursor, unlinked = 0, 0
        for _ in range(MAX_LINKED // PAGE + 1):  # SSCAN pages, bounded
            scan = partial(self._store.linked_by, account, cursor, PAGE)
            cursor, page = await self._guard.run(deadline(), scan)
            for chunk in _chunks(sorted(set(page)), CHUNK):
                unlink = partial(self._store.unlink, account, chunk, at_ms)
                results = await self._guard.run(deadline(), unlink, items=len(chunk))
                items: list[tuple[str, Event]] = []
                for other, (done, cleared, lifted) in zip(chunk, results, strict=True):
                    if not done:
                        continue
                    unlinked += 1
                    items.append((other, Event("account_unlinked", (
                        ("banned_account", account), ("cleared", "1" if cleared else "0"),
                    ))))  # fmt: skip
                    if lifted:
                        items.append((other, Event("account_unbanned", (("caused_by", account),))))
                await self._events.emit_many(at_ms, items)
            if cursor == 0:
                break
        await self._guard.run(deadline(), lambda b: self._store.drop_linked(account, b))
        return unlinked

    # ------------------------------------------------------------ reviewer views

    async def list_linked(
        self, account: str, at_ms: int, deadline: Deadline
    ) -> list[LinkedAccount]:
        """Accounts sharing registration or ban identifiers with `account`: strong links
        first, at most MAX_LINKS."""
        reg, ban = await self._guard.run(
            deadline(), lambda b: self._store.link_sources(account, at_ms, b)
        )
        tokens = sorted({*reg, *ban})
        if not tokens:
            return []
        fresh = self._fresh(at_ms)
        pages = await self._guard.run(
            deadline(), lambda b: self._store.registered(tokens, 0, MAX_LINKS, b), len(tokens)
        )
        bans = await self._guard.run(
            deadline(), lambda b: self._store.banned_by_identifier(tokens, b), len(tokens)
        )
        kinds: dict[str, set[str]] = {}
        for token, page, banned in zip(tokens, pages, bans, strict=True):
            others = [a for a, ms in page if ms >= fresh] + list(banned)
            for other in others:
                if other != account:
                    kinds.setdefault(other, set()).add(kind_of(token))

        def rank(a: str) -> tuple[bool, str]:
            return (not kinds[a] & self._strong, a)

        chosen = sorted(kinds, key=rank)[:MAX_LINKS]
        states = await self._guard.run(
            deadline(), lambda b: self._store.banned_states(chosen, b), len(chosen)
        )
        return [
            LinkedAccount(a, tuple(sorted(kinds[a])), bool(kinds[a] & self._strong), s)
            for a, s in zip(chosen, states, strict=True)
        ]

    async def review_state(self, account: str, at_ms: int, deadline: Deadline) -> ReviewState:
        return await self._guard.run(
            deadline(), lambda b: self._store.review_state(account, at_ms, b)
        )

    async def clear_review(self, account: str, at_ms: int, deadline: Deadline) -> bool:
        cleared = await self._guard.run(
            deadline(), lambda b: self._store.clear_review(account, at_ms, b)
        )
        if cleared:
            await self._events.emit(account, at_ms, [Event("review_cleared")])
        return cleared

    async def forget(self, account: str, at_ms: int, deadline: Deadline) -> int:
        n = await self._guard.run(deadline(), lambda b: self._store.forget(account, at_ms, b))
        await self._events.emit(
            account, at_ms, [Event("account_forgotten", (("forgotten", str(n)),))]
        )
        return n
