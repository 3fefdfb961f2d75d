"""The Redis side of every decision: one script call per account slot.

This module is the only one that knows Redis commands. Redis errors are mapped
to `sendgate.errors.BackendError` here, at the boundary.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sendgate import keys
from sendgate.domain import (
    AccountKind,
    AccountView,
    Event,
    ExceptionReason,
    ExceptionRecord,
    ExceptionState,
    FeedbackKind,
    Quality,
    SendDecision,
    SendRequest,
)
from sendgate.errors import BackendError, StartupError
from sendgate.months import MonthTable
from sendgate.store import parse
from sendgate.store.cluster_client import TrackedRedisCluster
from sendgate.store.coalesce import Coalescer
from sendgate.store.params import QuotaParams
from sendgate.store.scripts import SCRIPT_NAMES, LuaScript, script

# Policies that may evict sendgate's keys: every key has a TTL, so volatile-* evict too.
_SAFE_POLICIES = frozenset({"noeviction"})


class StoreObserver(Protocol):
    """Receives the timing and failures of Redis calls (metrics)."""

    def redis_call(self, seconds: float) -> None: ...

    def redis_error(self, kind: str) -> None: ...


def message_key(message_id: str) -> str:
    """A short fixed-size key for a message_id (72-bit hash; per sender, per day)."""
    digest = hashlib.blake2b(message_id.encode(), digest_size=9).digest()
    return base64.b64encode(digest).decode()


def _classify(exc: BaseException) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, TimeoutError | rexc.TimeoutError):
        return BackendError("timeout", "no answer within the budget")
    if isinstance(exc, rexc.ConnectionError | OSError):
        return BackendError("connection", str(exc) or type(exc).__name__)
    if isinstance(exc, rexc.ResponseError):
        text = str(exc)
        # Inside a script (Redis 6.2) the OOM arrives wrapped: "… -OOM command not allowed".
        oom = isinstance(exc, rexc.OutOfMemoryError) or "OOM command not allowed" in text
        return BackendError("oom" if oom else "response", text)
    return BackendError("other", f"{type(exc).__name__}: {exc}")


def make_client(url: str, connect_timeout_s: float, max_connections: int) -> Any:
    """A redis.asyncio client for `url` (standalone, unix socket or cluster).

    Client retries are off: a reply lost after the script ran would otherwise run it
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


class RedisStore:
    """Runs sendgate's Lua scripts; every method maps Redis faults to BackendError."""

    def __init__(
        self,
        client: Any,
        observer: StoreObserver | None = None,
        *,
        one_call: bool = True,
        coalesce: bool = True,
    ) -> None:
        self._client = client
        # Standalone Redis holds every account: a message is one script call. A cluster
        # spreads accounts over slots: sender and recipient are two calls.
        self.single_call = one_call and not isinstance(client, RedisCluster)
        self._in_flight = client.in_flight if isinstance(client, TrackedRedisCluster) else None
        # Cluster pipelines split by slot themselves; coalescing targets standalone.
        self._coalescer = Coalescer(client) if coalesce and self.single_call else None
        self._observer = observer
        self._scripts: dict[str, LuaScript] = {name: script(name) for name in SCRIPT_NAMES}
        # Calls wait for prepare(): until the eviction policy was checked, nothing counts.
        self.prepared = False
        # One reload at a time after NOSCRIPT; callers that saw the same generation share it.
        self._reload_lock = asyncio.Lock()
        self._scripts_generation = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_timeout_s: float = 1.0,
        max_connections: int = 64,
        observer: StoreObserver | None = None,
        one_call: bool = True,
        coalesce: bool = True,
    ) -> RedisStore:
        client = make_client(url, connect_timeout_s, max_connections)
        return cls(client, observer, one_call=one_call, coalesce=coalesce)

    async def close(self) -> None:
        if self._coalescer is not None:
            await self._coalescer.close()
        if isinstance(self._client, RedisCluster):
            await self._client.aclose()
        else:
            # We built the pool ourselves, so redis-py would not close it for us.
            await self._client.aclose(close_connection_pool=True)

    # ------------------------------------------------------------ start-up

    async def prepare(self, *, allow_evicting: bool) -> None:
        """Check the eviction policy (every node of a cluster) and register the scripts."""
        async with self._permit():
            if isinstance(self._client, TrackedRedisCluster):
                per_node = await self._client.info("memory", target_nodes=RedisCluster.PRIMARIES)
                infos = [*per_node.values(), *await self._client.replica_infos("memory")]
            else:
                infos = [await self._client.info("memory")]
            for info in infos:
                policy = info.get("maxmemory_policy", b"noeviction")
                policy = policy.decode() if isinstance(policy, bytes) else str(policy)
                if policy not in _SAFE_POLICIES and not allow_evicting:
                    raise StartupError(
                        f"redis maxmemory-policy is {policy!r}: evicted counters would hand "
                        "out fresh quotas; set it to noeviction or start with "
                        "allow_evicting_redis = true"
                    )
            await self.load_scripts()
        self.prepared = True

    def _permit(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._in_flight if self._in_flight is not None else contextlib.nullcontext()

    async def load_scripts(self) -> None:
        for s in self._scripts.values():
            sha = await self._client.script_load(s.source)
            sha = sha.decode() if isinstance(sha, bytes) else sha
            if sha != s.sha:
                raise StartupError(
                    f"redis returned sha {sha} for script {s.name}, expected {s.sha}"
                )

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
            async with asyncio.timeout(budget_s), self._permit():
                return await self._rerun_on_noscript(run)
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
            raise err from exc
        finally:
            if self._observer is not None:
                self._observer.redis_call(time.perf_counter() - start)

    async def _rerun_on_noscript(self, run: Callable[[], Awaitable[Any]]) -> Any:
        seen = self._scripts_generation
        try:
            return await run()
        except rexc.NoScriptError:
            # Redis restarted, failed over or flushed its scripts; the script did not run.
            await self._reload_scripts(seen)
            return await run()

    async def _reload_scripts(self, seen: int) -> None:
        async with self._reload_lock:
            if self._scripts_generation == seen:  # nobody reloaded since we looked
                await self.load_scripts()
                self._scripts_generation += 1

    async def _eval_pipeline(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """EVALSHA `commands` in one pipeline. Those that hit NOSCRIPT (and so did not
        run) are sent again after one shared reload; the others never run twice."""

        async def send(batch: Sequence[tuple[Any, ...]]) -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for args in batch:
                pipe.execute_command("EVALSHA", *args)
            return await pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

        seen = self._scripts_generation
        results = await send(commands)
        missing = [i for i, r in enumerate(results) if isinstance(r, rexc.NoScriptError)]
        if missing:
            await self._reload_scripts(seen)
            again = await send([commands[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, rexc.NoScriptError):
                # Still missing after a reload: an error, never a rerun of the whole batch.
                raise rexc.ResponseError(str(result))
            if isinstance(result, Exception):
                raise result
        return results

    def _evalsha(self, name: str, key: str, args: Sequence[str | int | bytes]) -> Awaitable[Any]:
        if self._coalescer is not None:
            return self._coalescer.evalsha(self._scripts[name].sha, 1, key, *args)
        return self._client.evalsha(self._scripts[name].sha, 1, key, *args)  # type: ignore[no-any-return]

    async def ping(self, budget_s: float) -> None:
        await self._call(budget_s, self._client.ping, before_prepare=True)

    async def _run(
        self, budget_s: float, name: str, key: str, args: Sequence[str | int | bytes]
    ) -> Any:
        return await self._call(budget_s, lambda: self._evalsha(name, key, args))

    # ------------------------------------------------------------ messages

    @staticmethod
    def send_args(req: SendRequest, p: QuotaParams, months: MonthTable) -> list[str | int | bytes]:
        """can_send.lua's arguments (public so benchmarks call the script directly)."""
        return [
            req.at_ms, req.recipient, message_key(req.message_id), int(req.via),
            1 if req.dry_run else 0, 1 if p.enforce else 0,
            p.personal_monthly, p.business_monthly, p.username_monthly, p.warn_bp,
            p.window_ms, p.idempotency_ms, *months.args(), *p.biz,
        ]  # fmt: skip

    async def can_send(
        self, req: SendRequest, params: QuotaParams, months: MonthTable, budget_s: float
    ) -> SendDecision:
        """Decide and count on the sender's slot (the recipient's side is `note_inbound`)."""
        args = self.send_args(req, params, months)
        raw = await self._run(budget_s, "can_send", keys.account_key(req.sender), args)
        return parse.decision(raw)

    async def send_local(
        self, req: SendRequest, params: QuotaParams, months: MonthTable, budget_s: float
    ) -> SendDecision:
        """Decide, count and note the recipient in one script (standalone Redis only)."""
        args = [*self.send_args(req, params, months), req.sender]
        sha = self._scripts["send_local"].sha
        sender, recipient = keys.account_key(req.sender), keys.account_key(req.recipient)
        evalsha = self._coalescer.evalsha if self._coalescer else self._client.evalsha
        raw = await self._call(budget_s, lambda: evalsha(sha, 2, sender, recipient, *args))
        return parse.decision(raw)

    async def can_send_many(
        self,
        items: Sequence[tuple[SendRequest, MonthTable]],
        params: QuotaParams,
        budget_s: float,
    ) -> list[SendDecision]:
        """Decide many messages in one pipeline round trip, in request order. On standalone
        Redis each message also notes its recipient (send_local), so later messages of the
        batch see earlier ones."""
        local = self.single_call
        sha = self._scripts["send_local" if local else "can_send"].sha

        commands = [
            (sha, 2, keys.account_key(req.sender), keys.account_key(req.recipient),
             *self.send_args(req, params, months), req.sender)
            if local
            else (sha, 1, keys.account_key(req.sender), *self.send_args(req, params, months))
            for req, months in items
        ]  # fmt: skip
        raws = await self._call(budget_s, lambda: self._eval_pipeline(commands))
        return [parse.decision(raw) for raw in raws]

    async def note_inbound(
        self,
        account: str,
        writer: str,
        at_ms: int,
        window_ms: int,
        months: MonthTable,
        budget_s: float,
    ) -> int:
        """`writer` wrote to `account`: open the conversation, refund. Returns the refund."""
        args: list[str | int | bytes] = [at_ms, writer, window_ms, *months.args()]
        return int(await self._run(budget_s, "note_inbound", keys.account_key(account), args))

    async def note_inbound_many(
        self, notes: Sequence[tuple[str, str, int, MonthTable]], window_ms: int, budget_s: float
    ) -> None:
        """Several (account, writer, at_ms, months) notes in one pipeline round trip."""
        if not notes:
            return
        sha = self._scripts["note_inbound"].sha
        commands = [
            (sha, 1, keys.account_key(account), at_ms, writer, window_ms, *months.args())
            for account, writer, at_ms, months in notes
        ]
        await self._call(budget_s, lambda: self._eval_pipeline(commands))

    # ------------------------------------------------------------ accounts

    async def account(
        self,
        account: str,
        at_ms: int,
        params: QuotaParams,
        months: MonthTable,
        budget_s: float,
        *,
        evaluate: bool = False,
    ) -> AccountView:
        """Usage and standing; a stale business is re-evaluated (always, with `evaluate`)."""
        args = [at_ms, *params.limit_args(), *months.args(), 1 if evaluate else 0, *params.biz]
        raw = await self._run(budget_s, "usage", keys.account_key(account), args)
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
        args = [
            at_ms, int(kind), int(business_verified), int(identity_verified), registered_at,
            *params.limit_args(), *months.args(), *params.biz,
        ]  # fmt: skip
        raw = await self._run(budget_s, "upsert_account", keys.account_key(account), args)
        return parse.account_view(account, raw)

    async def feedback(
        self,
        subject: str,
        reporter: str,
        kind: FeedbackKind,
        at_ms: int,
        params: QuotaParams,
        budget_s: float,
    ) -> tuple[Quality, bool, tuple[Event, ...]]:
        """A block or report; returns the subject's quality, whether it counted, events."""
        args: list[str | int | bytes] = [at_ms, reporter, int(kind), *params.biz]
        raw = await self._run(budget_s, "feedback", keys.account_key(subject), args)
        return Quality(int(raw[0])), bool(int(raw[1])), parse.events(raw, 2)

    async def opt_in(
        self, business: str, user: str, opted_in: bool, at_ms: int, budget_s: float
    ) -> None:
        args: list[str | int | bytes] = [at_ms, user, 1 if opted_in else 0]
        await self._run(budget_s, "opt_in", keys.account_key(business), args)

    async def set_allowance(
        self, account: str, extra: int, expires_at: int, budget_s: float
    ) -> None:
        await self._run(budget_s, "set_allowance", keys.account_key(account), [extra, expires_at])

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
        args: list[str | int | bytes] = [
            at_ms, keys.escape(account), account, int(reason), note, request_id,
        ]  # fmt: skip
        raw = await self._run(budget_s, "exception_request", keys.EXCEPTIONS_PENDING, args)
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
        args: list[str | int | bytes] = [at_ms, request_id, 1 if approve else 0, extra, expires_at]
        raw = await self._run(budget_s, "exception_review", keys.EXCEPTIONS_PENDING, args)
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
        args: list[str | int | bytes] = [
            at_ms, int(state) if state else 0, limit, keys.escape(account or ""),
        ]  # fmt: skip
        raw = await self._run(budget_s, "exception_list", keys.EXCEPTIONS_PENDING, args)
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
        args: list[str | int | bytes] = [at_ms, 1 if banned else 0, reason, *tokens]
        raw = await self._run(budget_s, "ban", keys.account_key(account), args)
        changed, held = bool(int(raw[0])), [parse.text(t) for t in raw[1:]]

        async def index() -> list[Any]:
            # Single-key commands, each atomic on its own slot (cluster-safe).
            pipe = self._client.pipeline(transaction=False)
            for token in held:
                if banned:
                    pipe.sadd(keys.identifier_key(token), account)
                else:
                    pipe.srem(keys.identifier_key(token), account)
            return await pipe.execute(raise_on_error=True)  # type: ignore[no-any-return]

        if held:
            await self._call(budget_s, index)
        return changed

    async def banned_by_identifier(self, tokens: Sequence[str], budget_s: float) -> list[list[str]]:
        """For each token, the banned accounts that used it."""

        async def run() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for token in tokens:
                pipe.smembers(keys.identifier_key(token))
            return await pipe.execute(raise_on_error=True)  # type: ignore[no-any-return]

        if not tokens:
            return []
        return [sorted(parse.text(a) for a in found) for found in await self._call(budget_s, run)]

    async def mark_evasion(self, account: str, budget_s: float) -> bool:
        """Set the BAN_EVASION flag; True when it was not set before."""
        prev = await self._call(
            budget_s, lambda: self._client.hget(keys.account_key(account), "be")
        )
        if prev == b"1":
            return False
        await self._call(budget_s, lambda: self._client.hset(keys.account_key(account), "be", 1))
        return True

    # ------------------------------------------------------------ events

    async def append_events(
        self, items: Sequence[tuple[str, int, Event]], max_len: int, budget_s: float
    ) -> None:
        """XADD each (account, at_ms, event) to the bounded enforcement stream."""
        if not items:
            return

        async def run() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for account, at_ms, event in items:
                fields = {"type": event.type, "account": account, "at": str(at_ms)}
                fields.update(event.fields)
                pipe.xadd(keys.EVENTS_STREAM, fields, maxlen=max_len, approximate=True)
            return await pipe.execute(raise_on_error=True)  # type: ignore[no-any-return]

        await self._call(budget_s, run)
