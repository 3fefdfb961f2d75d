"""The Redis side of every decision: one Redis Function call per account slot.

This module is the only one that knows Redis commands. Redis errors are mapped
to `sendgate.errors.BackendError` here, at the boundary. The functions come from one
generated library (`sendgate.store.library`); their arguments follow
`sendgate.store.layout`.

Two clients: every call after start-up (decisions, notes, usage, feedback, opt-ins,
events, the admin flows) goes through the multiplexed connection (`mux_calls`: one
connection per Redis node shared by all calls in flight); redis-py does the start-up
checks (version, eviction policy on every node), the first FUNCTION LOAD and the prune.

What is rerun: a call that found the library missing ("Function not found": it did not
run) after one shared reload, and a call that was never sent (`NotSent`), once. A call
whose connection was lost after it was written (`OutcomeUnknown`) or that timed out may
have run: it is never resent; the caller's failure policy answers and the chat server
retries with the same message_id, which the functions answer as a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sendgate import keys
from sendgate.config import load_settings
from sendgate.domain import (
    AccountKind,
    AccountView,
    Event,
    ExceptionReason,
    ExceptionRecord,
    ExceptionState,
    FeedbackKind,
    Quality,
    ReviewState,
    SendDecision,
    SendRequest,
)
from sendgate.errors import BackendError, StartupError
from sendgate.months import MonthTable
from sendgate.store import functions, parse
from sendgate.store.cluster_client import TrackedRedisCluster
from sendgate.store.layout import FUNCTIONS, Arg
from sendgate.store.library import ID_LEN, FunctionLibrary, build
from sendgate.store.mux import MuxError, NotSent, ReplyError
from sendgate.store.mux_calls import Command, MuxCalls
from sendgate.store.params import QuotaParams
from sendgate.store.version import check_server

# Policies that may evict sendgate's keys: every key has a TTL, so volatile-* evict too.
_SAFE_POLICIES = frozenset({"noeviction"})
# FCALL's answer when the library is not loaded on that node (the analogue of
# NOSCRIPT): the function did not run, so running it after a reload cannot count twice.
_MISSING = "ERR Function not found"


class StoreObserver(Protocol):
    """Receives the timing and failures of Redis calls (metrics)."""

    def redis_call(self, seconds: float) -> None: ...

    def redis_error(self, kind: str) -> None: ...


def message_key(message_id: str) -> bytes:
    """The idempotency key of a message_id: ID_LEN bytes of its hash (per sender, per day)."""
    return hashlib.blake2b(message_id.encode(), digest_size=ID_LEN).digest()


def _missing(result: object) -> bool:
    return isinstance(result, ReplyError) and result.text.startswith(_MISSING)


def _rerun(result: object) -> bool:
    """Did `result` not run, so that running it again cannot count twice?"""
    return isinstance(result, NotSent) or _missing(result)


def _classify(exc: BaseException) -> BackendError:
    if isinstance(exc, BackendError):  # MuxError included: kinds oom, response, connection
        return exc
    if isinstance(exc, TimeoutError | rexc.TimeoutError):
        return BackendError("timeout", "no answer within the budget")
    if isinstance(exc, rexc.ConnectionError | OSError):
        return BackendError("connection", str(exc) or type(exc).__name__)
    if isinstance(exc, rexc.ResponseError):
        text = str(exc)
        # Inside a function the OOM may arrive wrapped: "… -OOM command not allowed".
        oom = isinstance(exc, rexc.OutOfMemoryError) or "OOM command not allowed" in text
        return BackendError("oom" if oom else "response", text)
    return BackendError("other", f"{type(exc).__name__}: {exc}")


def make_client(url: str, connect_timeout_s: float, max_connections: int) -> Any:
    """A redis.asyncio client for `url` (standalone, unix socket or cluster): start-up
    checks, function pruning, ListEvents; decisions use `MuxCalls`.

    Client retries are off: a reply lost after the function ran would otherwise run it
    again. Retrying is the caller's choice, made safe by message_id idempotency.
    """
    common: dict[str, Any] = {
        "retry": Retry(NoBackoff(), 0),
        "socket_connect_timeout": connect_timeout_s,
        "decode_responses": False,
    }
    if not url.startswith("unix://"):
        common["socket_keepalive"] = True
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        plain = url.replace("+cluster", "", 1)
        return TrackedRedisCluster.from_url(plain, max_connections=max_connections, **common)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=None, **common
    )
    return aioredis.Redis(connection_pool=pool)


def message_args(req: SendRequest) -> list[Arg]:
    """One message's arguments (layout MESSAGE; public so benchmarks call FCALL directly)."""
    return [req.at_ms, req.recipient, message_key(req.message_id), int(req.via),
            1 if req.dry_run else 0]  # fmt: skip


class RedisStore:
    """Calls sendgate's Redis Functions; every method maps Redis faults to BackendError."""

    def __init__(
        self,
        client: Any,
        calls: MuxCalls,
        observer: StoreObserver | None = None,
        *,
        one_call: bool = True,
        library: FunctionLibrary | None = None,
    ) -> None:
        self._client = client  # redis-py: start-up checks and prune only
        self._calls = calls
        # Standalone Redis holds every account: a message is one function call. A
        # cluster spreads accounts over slots: sender and recipient are two calls.
        self.single_call = one_call and not calls.cluster
        self._observer = observer
        # The default configuration's library until the gate says which one it uses.
        self.library = library or build(load_settings())
        # Calls wait for prepare(): until the eviction policy was checked, nothing counts.
        self.prepared = False
        # One reload at a time after a missing library; callers that saw the same
        # generation share it.
        self._reload_lock = asyncio.Lock()
        self._generation = 0
        self._touched_at = 0.0
        self._background: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_timeout_s: float = 1.0,
        max_connections: int = 64,
        observer: StoreObserver | None = None,
        one_call: bool = True,
        library: FunctionLibrary | None = None,
    ) -> RedisStore:
        """A store for `url`; `max_connections` bounds redis-py's pool (start-up, prune),
        decisions share one multiplexed connection per node. Nothing connects yet."""
        client = make_client(url, connect_timeout_s, max_connections)
        calls = MuxCalls.from_url(url, connect_timeout_s=connect_timeout_s)
        return cls(client, calls, observer, one_call=one_call, library=library)

    def use_library(self, library: FunctionLibrary) -> None:
        """Call `library` from now on. Loaded by the next prepare(), or on first use (a
        missing library is loaded and the call rerun)."""
        if library.name != self.library.name:
            self.library = library
            self._touched_at = 0.0

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._calls.close()
        if isinstance(self._client, RedisCluster):
            await self._client.aclose()
        else:
            # We built the pool ourselves, so redis-py would not close it for us.
            await self._client.aclose(close_connection_pool=True)

    # ------------------------------------------------------------ start-up

    async def prepare(self, *, allow_evicting: bool) -> None:
        """Check the server version and eviction policy (every node of a cluster), load
        the function library and prune libraries no sidecar has used for days.

        All through redis-py, whose errors the server sorts into "refused" and "wait"."""
        if isinstance(self._client, TrackedRedisCluster):
            per_node = await self._client.info(target_nodes=RedisCluster.PRIMARIES)
            infos = [*per_node.values(), *await self._client.replica_infos("default")]
        else:
            infos = [await self._client.info()]
        for info in infos:
            check_server(info)
            policy = info.get("maxmemory_policy", b"noeviction")
            policy = policy.decode() if isinstance(policy, bytes) else str(policy)
            if policy not in _SAFE_POLICIES and not allow_evicting:
                raise StartupError(
                    f"redis maxmemory-policy is {policy!r}: evicted counters would hand "
                    "out fresh quotas; set it to noeviction or start with "
                    "allow_evicting_redis = true"
                )
        await functions.load(self._client, self.library)
        self._touched_at = time.monotonic()
        await functions.prune(self._client, keep=self.library)
        self.prepared = True

    async def load_library(self) -> None:
        """FUNCTION LOAD REPLACE on every primary, over the decision path's connections
        (they know the current primaries, also after a failover), and touch it."""
        lib = self.library
        await self._calls.on_primaries("FUNCTION", "LOAD", "REPLACE", lib.source)
        await self._touch(lib)
        self._touched_at = time.monotonic()

    async def _touch(self, lib: FunctionLibrary) -> None:
        # functions.touch's SET, on the multiplexed connection.
        key = functions.heartbeat_key(lib.name)
        ttl_ms = functions.PRUNE_AFTER_DAYS * 86_400_000
        await self._calls.call(("SET", key, 1, "PX", ttl_ms), key)

    def _heartbeat(self) -> None:
        # Hourly while deciding: a library in use is never pruned (functions.py).
        if time.monotonic() - self._touched_at < functions.HEARTBEAT_EVERY_S:
            return
        self._touched_at = time.monotonic()

        async def touch() -> None:
            with contextlib.suppress(Exception):  # best effort; the next hour retries
                async with asyncio.timeout(10):
                    await self._touch(self.library)

        task = asyncio.get_running_loop().create_task(touch())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------ calls

    async def _call(
        self,
        budget_s: float,
        run: Callable[[], Awaitable[Any]],
        *,
        before_prepare: bool = False,
    ) -> Any:
        """Run one Redis round trip within `budget_s`; faults become BackendError."""
        if not self.prepared and not before_prepare:
            raise BackendError("unprepared", "redis not yet checked and prepared")
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget_s):
                result = await run()
            if not before_prepare:
                self._heartbeat()
            return result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Our caller is being cancelled; a timeout raised at the same moment must
                # not swallow that (asyncio.timeout can convert it on 3.11).
                raise asyncio.CancelledError from exc
            err = _classify(exc)
            if self._observer is not None:
                self._observer.redis_error(err.kind)
            if err is exc:
                raise  # already ours (a MuxError): no cause pointing at itself
            raise err from exc
        finally:
            if self._observer is not None:
                self._observer.redis_call(time.perf_counter() - start)

    async def _one(self, command: Command, key: str | bytes) -> Any:
        """One command; rerun once if it did not run (missing library, not sent)."""
        seen = self._generation
        try:
            return await self._calls.call(command, key)
        except MuxError as exc:
            if not _rerun(exc):
                raise  # OutcomeUnknown, or a real error reply: never resent
            if _missing(exc):
                # Redis restarted, failed over or flushed its functions: the call did not run.
                await self._reload(seen)
            return await self._calls.call(command, key)

    async def _reload(self, seen: int) -> None:
        async with self._reload_lock:
            if self._generation == seen:  # nobody reloaded since we looked
                await self.load_library()
                self._generation += 1

    def _fcall_args(self, fn: str, keys_: Sequence[str], args: Sequence[Arg]) -> Command:
        return ("FCALL", self.library.function(fn), len(keys_), *keys_, *args)

    async def _many(self, commands: Sequence[Command], keys_: Sequence[str]) -> list[Any]:
        """Send `commands` (command i on the node of keys_[i]) in one round trip per node.
        Those that did not run (library missing, not sent) are sent again, once, after
        one shared reload; the others never run twice. Any error left is raised."""
        seen = self._generation
        results = await self._calls.call_many(commands, keys_)
        again = [i for i, r in enumerate(results) if _rerun(r)]
        if again:
            if any(_missing(results[i]) for i in again):
                await self._reload(seen)
            rerun = await self._calls.call_many(
                [commands[i] for i in again], [keys_[i] for i in again]
            )
            for i, result in zip(again, rerun, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, MuxError):
                # Still failing: an error for the whole group, never a resend of it.
                raise result
        return results

    async def ping(self, budget_s: float) -> None:
        """PING over the decision path (every primary of a cluster)."""
        await self._call(budget_s, self._calls.ping, before_prepare=True)

    async def _run(
        self, budget_s: float, fn: str, keys_: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        command = self._fcall_args(fn, keys_, args)
        return await self._call(budget_s, lambda: self._one(command, keys_[0]))

    # ------------------------------------------------------------ messages

    async def can_send(self, req: SendRequest, budget_s: float) -> SendDecision:
        """Decide and count on the sender's slot (the recipient's side is `note_inbound`)."""
        raw = await self._run(
            budget_s, "can_send", [keys.account_key(req.sender)], message_args(req)
        )
        return parse.decision(raw)

    async def send_local(self, req: SendRequest, budget_s: float) -> SendDecision:
        """Decide, count and note the recipient in one call (standalone Redis only)."""
        keys_ = [keys.account_key(req.sender), keys.account_key(req.recipient)]
        raw = await self._run(budget_s, "send_local", keys_, [*message_args(req), req.sender])
        return parse.decision(raw)

    def group_command(self, sender: str, reqs: Sequence[SendRequest]) -> Command:
        """The send_group FCALL deciding `reqs` (all from `sender`) in order."""
        keys_ = [keys.account_key(sender)]
        if self.single_call:
            keys_ += [keys.account_key(r.recipient) for r in reqs]
        args: list[Arg] = FUNCTIONS["send_group"].pack(
            local=1 if self.single_call else 0, sender_id=sender
        )
        for r in reqs:
            args += message_args(r)
        return self._fcall_args("send_group", keys_, args)

    async def can_send_many(
        self, reqs: Sequence[SendRequest], budget_s: float
    ) -> list[SendDecision]:
        """Decide many messages: one send_group call per sender (its messages in request
        order), the groups pipelined in one round trip. On standalone Redis each message
        also notes its recipient, so later groups see the notes of earlier ones."""
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(reqs):
            groups.setdefault(req.sender, []).append(i)
        commands = [
            self.group_command(sender, [reqs[i] for i in idx]) for sender, idx in groups.items()
        ]
        routes = [keys.account_key(sender) for sender in groups]
        raws = await self._call(budget_s, lambda: self._many(commands, routes))
        out: list[SendDecision | None] = [None] * len(reqs)
        for idx, raw in zip(groups.values(), raws, strict=True):
            for i, decision in zip(idx, parse.decisions(raw, len(idx)), strict=True):
                out[i] = decision
        return [d for d in out if d is not None]

    async def note_inbound(self, account: str, writer: str, at_ms: int, budget_s: float) -> int:
        """`writer` wrote to `account`: open the conversation, refund. Returns the refund."""
        args = FUNCTIONS["note_inbound"].pack(now=at_ms, writer=writer)
        return int(await self._run(budget_s, "note_inbound", [keys.account_key(account)], args))

    async def note_inbound_many(
        self, notes: Sequence[tuple[str, str, int]], budget_s: float
    ) -> None:
        """Several (account, writer, at_ms) notes in one round trip per node."""
        if not notes:
            return
        routes = [keys.account_key(account) for account, _, _ in notes]
        commands = [
            self._fcall_args("note_inbound", [route], [at_ms, writer])
            for route, (_, writer, at_ms) in zip(routes, notes, strict=True)
        ]
        await self._call(budget_s, lambda: self._many(commands, routes))

    # ------------------------------------------------------------ accounts

    async def account(
        self, account: str, at_ms: int, budget_s: float, *, evaluate: bool = False
    ) -> AccountView:
        """Usage and standing; a stale business is re-evaluated (always, with `evaluate`)."""
        args = FUNCTIONS["usage"].pack(now=at_ms, evaluate=1 if evaluate else 0)
        raw = await self._run(budget_s, "usage", [keys.account_key(account)], args)
        return parse.account_view(account, raw)

    async def upsert_account(
        self,
        account: str,
        kind: AccountKind,
        business_verified: bool,
        identity_verified: bool,
        registered_at: int,
        at_ms: int,
        params: QuotaParams,
        months: MonthTable,
        budget_s: float,
    ) -> AccountView:
        """Create or update an account. `params` and `months` are unused (the library has
        the limits and the month table built in); kept while the admin passes them."""
        del params, months
        args = FUNCTIONS["upsert_account"].pack(
            now=at_ms, kind=int(kind), business_verified=int(business_verified),
            identity_verified=int(identity_verified), registered_at=registered_at,
        )  # fmt: skip
        raw = await self._run(budget_s, "upsert_account", [keys.account_key(account)], args)
        return parse.account_view(account, raw)

    async def feedback(
        self,
        subject: str,
        reporter: str,
        kind: FeedbackKind,
        at_ms: int,
        budget_s: float,
    ) -> tuple[Quality, bool, tuple[Event, ...]]:
        """A block or report; returns the subject's quality, whether it counted, events."""
        args = FUNCTIONS["feedback"].pack(now=at_ms, reporter=reporter, kind=int(kind))
        raw = await self._run(budget_s, "feedback", [keys.account_key(subject)], args)
        return Quality(int(raw[0])), bool(int(raw[1])), parse.events(raw, 2)

    async def opt_in(
        self, business: str, user: str, opted_in: bool, at_ms: int, budget_s: float
    ) -> None:
        args = FUNCTIONS["opt_in"].pack(now=at_ms, user=user, opted_in=1 if opted_in else 0)
        await self._run(budget_s, "opt_in", [keys.account_key(business)], args)

    async def set_allowance(
        self, account: str, extra: int, expires_at: int, reason: int, budget_s: float
    ) -> None:
        args = FUNCTIONS["set_allowance"].pack(extra=extra, expires=expires_at, reason=reason)
        await self._run(budget_s, "set_allowance", [keys.account_key(account)], args)

    # ------------------------------------------------------------ exceptions

    async def exception_request(
        self,
        account: str,
        reason: ExceptionReason,
        note: str,
        request_id: str,
        at_ms: int,
        budget_s: float,
    ) -> tuple[str, bool]:
        """Returns (request id, created); an open request of the account is returned as is."""
        args = FUNCTIONS["exception_request"].pack(
            now=at_ms, account_part=keys.escape(account), account=account,
            reason=int(reason), note=note, request_id=request_id,
        )  # fmt: skip
        raw = await self._run(budget_s, "exception_request", [keys.EXCEPTIONS_PENDING], args)
        return parse.text(raw[0]), bool(int(raw[2]))

    async def exception_review(
        self,
        request_id: str,
        approve: bool,
        extra: int,
        expires_at: int,
        at_ms: int,
        now_ms: int,
        budget_s: float,
    ) -> tuple[str, ExceptionRecord | None]:
        """('ok' | 'same' | 'conflict' | 'not_found', the record)."""
        args = FUNCTIONS["exception_review"].pack(
            now=at_ms, request_id=request_id, approve=1 if approve else 0, extra=extra,
            expires=expires_at,
        )  # fmt: skip
        raw = await self._run(budget_s, "exception_review", [keys.EXCEPTIONS_PENDING], args)
        status = parse.text(raw[0])
        if status == "not_found":
            return status, None
        return status, parse.exception_record(request_id, raw[1:], now_ms)

    async def exception_list(
        self,
        state: ExceptionState | None,
        account: str | None,
        limit: int,
        at_ms: int,
        now_ms: int,
        budget_s: float,
    ) -> list[ExceptionRecord]:
        """Requests in `state`, or (state None) the newest requests of `account`."""
        args = FUNCTIONS["exception_list"].pack(
            now=at_ms, state=int(state) if state else 0, limit=limit,
            account_part=keys.escape(account or ""),
        )  # fmt: skip
        raw = await self._run(budget_s, "exception_list", [keys.EXCEPTIONS_PENDING], args)
        return parse.exception_list(raw, now_ms)

    # ------------------------------------------------------------ bans

    async def ban(
        self,
        account: str,
        banned: bool,
        reason: str,
        tokens: Sequence[str],
        at_ms: int,
        budget_s: float,
    ) -> bool:
        """Ban (with identifier tokens) or unban; keeps the identifier index in step.
        Returns whether the ban state changed."""
        args = [
            *FUNCTIONS["ban"].pack(now=at_ms, banned=1 if banned else 0, reason=reason),
            *tokens,
        ]
        raw = await self._run(budget_s, "ban", [keys.account_key(account)], args)
        changed, held = bool(int(raw[0])), [parse.text(t) for t in raw[1:]]

        if held:
            # Single-key commands, each atomic on its own slot (cluster-safe).
            routes = [keys.identifier_key(token) for token in held]
            verb = "SADD" if banned else "SREM"
            commands = [(verb, route, account) for route in routes]
            await self._call(budget_s, lambda: self._many(commands, routes))
        return changed

    async def banned_by_identifier(self, tokens: Sequence[str], budget_s: float) -> list[list[str]]:
        """For each token, the banned accounts that used it."""

        if not tokens:
            return []
        routes = [keys.identifier_key(token) for token in tokens]
        commands: list[Command] = [("SMEMBERS", route) for route in routes]
        found = await self._call(budget_s, lambda: self._many(commands, routes))
        return [sorted(parse.text(a) for a in members) for members in found]

    async def mark_evasion(self, account: str, budget_s: float) -> bool:
        """Set the BAN_EVASION flag; True when it was not set before."""
        key = keys.account_key(account)
        prev = await self._call(budget_s, lambda: self._one(("HGET", key, "be"), key))
        if prev == b"1":
            return False
        await self._call(budget_s, lambda: self._one(("HSET", key, "be", 1), key))
        return True

    # ------------------------------------------------------------ linked accounts

    async def _fcall_each(
        self, fn: str, keys_: Sequence[str], args: Sequence[Sequence[Arg]], budget_s: float
    ) -> list[Any]:
        """One FCALL of `fn` per key (each in its own slot), one round trip per node."""
        commands = [self._fcall_args(fn, [k], a) for k, a in zip(keys_, args, strict=True)]
        routes = list(keys_)
        out: list[Any] = await self._call(budget_s, lambda: self._many(commands, routes))
        return out

    async def register(
        self,
        account: str,
        tokens: Sequence[str],
        review: bool,
        at_ms: int,
        budget_s: float,
        counted: Collection[str] = (),
    ) -> tuple[list[int], bool]:
        """Record a registration's identifier tokens: one call per identifier index and
        one on the account, pipelined. Returns, per token, how many other accounts
        registered with it within the velocity window (0 for tokens not in `counted`),
        and whether the account newly went under review."""
        idx = [keys.registration_key(t) for t in tokens]
        pack = FUNCTIONS["register"].pack
        own = [*FUNCTIONS["register_account"].pack(now=at_ms, review=int(review)), *tokens]
        commands = [
            self._fcall_args("register", [k], pack(now=at_ms, account=account, count=c))
            for k, c in zip(idx, [int(t in counted) for t in tokens], strict=True)
        ]
        commands.append(self._fcall_args("register_account", [keys.account_key(account)], own))
        routes = [*idx, keys.account_key(account)]
        out = await self._call(budget_s, lambda: self._many(commands, routes))
        return [int(n) for n in out[:-1]], bool(int(out[-1][0]))

    async def register_account(
        self, account: str, tokens: Sequence[str], review: bool, at_ms: int, budget_s: float
    ) -> bool:
        """The account's side of a registration alone (register writes it too; this puts
        an account under review once the velocity counts are in). True when the account
        newly went under review. Idempotent."""
        own = [*FUNCTIONS["register_account"].pack(now=at_ms, review=int(review)), *tokens]
        raw = await self._run(budget_s, "register_account", [keys.account_key(account)], own)
        return bool(int(raw[0]))

    async def link_sources(
        self, account: str, at_ms: int, budget_s: float
    ) -> tuple[list[str], list[str]]:
        """The account's registration tokens (within the retention) and ban tokens."""
        args = FUNCTIONS["link_sources"].pack(now=at_ms)
        raw = await self._run(budget_s, "link_sources", [keys.account_key(account)], args)
        n, tokens = int(raw[0]), [parse.text(t) for t in raw[1:]]
        return tokens[:n], tokens[n:]

    async def registered(
        self, tokens: Sequence[str], start: int, count: int, budget_s: float
    ) -> list[list[tuple[str, int]]]:
        """For each token, a page of its registration index: (account, registration ms)
        at ranks start .. start + count - 1, oldest first."""
        if not tokens:
            return []
        routes = [keys.registration_key(t) for t in tokens]
        stop = start + count - 1
        commands: list[Command] = [("ZRANGE", r, start, stop, "WITHSCORES") for r in routes]
        pages = await self._call(budget_s, lambda: self._many(commands, routes))
        return [
            [(parse.text(p[i]), int(float(parse.text(p[i + 1])))) for i in range(0, len(p), 2)]
            for p in pages
        ]

    async def link(
        self, cause: str, accounts: Sequence[str], at_ms: int, budget_s: float
    ) -> list[tuple[bool, bool]]:
        """The ban of `cause` reaches `accounts`: one call per account (its slot).
        For each: (newly linked, banned by this link)."""
        if not accounts:
            return []
        args = FUNCTIONS["link"].pack(now=at_ms, cause=cause)
        raw = await self._fcall_each(
            "link", [keys.account_key(a) for a in accounts], [args] * len(accounts), budget_s
        )
        return [(bool(int(r[0])), bool(int(r[1]))) for r in raw]

    async def unlink(
        self, cause: str, accounts: Sequence[str], at_ms: int, budget_s: float
    ) -> list[tuple[bool, bool, bool]]:
        """The ban of `cause` was lifted: for each account (unlinked, no cause left,
        unbanned)."""
        if not accounts:
            return []
        args = FUNCTIONS["unlink"].pack(now=at_ms, cause=cause)
        raw = await self._fcall_each(
            "unlink", [keys.account_key(a) for a in accounts], [args] * len(accounts), budget_s
        )
        return [(bool(int(r[0])), bool(int(r[1])), bool(int(r[2]))) for r in raw]

    def _linked_key(self, cause: str) -> str:
        return keys.account_base(cause) + "lkd"

    async def note_linked(self, cause: str, accounts: Sequence[str], budget_s: float) -> None:
        """Remember on the banned account's slot whom its ban linked (its unban lifts
        them); written before the links, so a fault between the two loses nothing."""
        if accounts:
            key = self._linked_key(cause)
            await self._call(budget_s, lambda: self._one(("SADD", key, *accounts), key))

    async def linked_by(
        self, cause: str, cursor: int, count: int, budget_s: float
    ) -> tuple[int, list[str]]:
        """A page of the accounts the ban of `cause` linked (SSCAN): next cursor, accounts."""
        key = self._linked_key(cause)
        raw = await self._call(
            budget_s, lambda: self._one(("SSCAN", key, cursor, "COUNT", count), key)
        )
        return int(parse.text(raw[0])), [parse.text(a) for a in raw[1]]

    async def drop_linked(self, cause: str, budget_s: float) -> None:
        key = self._linked_key(cause)
        await self._call(budget_s, lambda: self._one(("DEL", key), key))

    async def clear_review(self, account: str, at_ms: int, budget_s: float) -> bool:
        """End the account's review; True when it was under review."""
        args = FUNCTIONS["clear_review"].pack(now=at_ms)
        raw = await self._run(budget_s, "clear_review", [keys.account_key(account)], args)
        return bool(int(raw[0]))

    async def review_state(self, account: str, at_ms: int, budget_s: float) -> ReviewState:
        args = FUNCTIONS["review_state"].pack(now=at_ms)
        raw = await self._run(budget_s, "review_state", [keys.account_key(account)], args)
        causes = tuple(sorted(parse.text(c) for c in raw[2:]))
        return ReviewState(bool(int(raw[0])), int(raw[1]), causes)

    async def forget(self, account: str, at_ms: int, budget_s: float) -> int:
        """Erase the account's registration tokens and its place in each index."""
        args = FUNCTIONS["forget"].pack(now=at_ms)
        raw = await self._run(budget_s, "forget", [keys.account_key(account)], args)
        routes = [keys.registration_key(parse.text(t)) for t in raw]
        if routes:
            commands: list[Command] = [("ZREM", r, account) for r in routes]
            await self._call(budget_s, lambda: self._many(commands, routes))
        return len(routes)

    async def banned_states(self, accounts: Sequence[str], budget_s: float) -> list[bool]:
        """Whether each account is banned (one HGET per account's slot)."""
        if not accounts:
            return []
        routes = [keys.account_key(a) for a in accounts]
        commands: list[Command] = [("HGET", r, "b") for r in routes]
        raw = await self._call(budget_s, lambda: self._many(commands, routes))
        return [r in {b"1", "1"} for r in raw]

    # ------------------------------------------------------------ events

    async def append_events(
        self, items: Sequence[tuple[str, int, Event]], max_len: int, budget_s: float
    ) -> None:
        """XADD each (account, at_ms, event) to the bounded enforcement stream."""
        if not items:
            return

        commands: list[Command] = []
        for account, at_ms, event in items:
            fields = {"type": event.type, "account": account, "at": str(at_ms)}
            fields.update(event.fields)
            pairs = [part for field in fields.items() for part in field]
            commands.append(("XADD", keys.EVENTS_STREAM, "MAXLEN", "~", max_len, "*", *pairs))
        routes = [keys.EVENTS_STREAM] * len(commands)
        await self._call(budget_s, lambda: self._many(commands, routes))
